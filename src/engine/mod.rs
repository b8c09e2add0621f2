//! The template engine: turns a Template and parameter values into a
//! workspace of files and a record of the steps run. Everything here is pure
//! or touches only the workspace directory it is given.

pub mod bounds;
pub mod expression;
pub mod files;
pub mod filters;
pub mod js;
pub mod parameters;
pub mod skeleton;
pub mod warnings;
pub mod workspace;
