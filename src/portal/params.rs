//! A call's query parameters, decoded, in the order given: Backstage's
//! routes repeat a parameter for a list (`?status=failed&status=open`).

/// A call's query parameters.
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The parameters of `query` (without `?`).
    pub fn of(query: &str) -> Params {
        Params(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}
