use clap::Parser;

// Rendering allocates many small strings and values; mimalloc serves them
// faster than the system allocator. Built without transparent huge pages
// (`no_thp`): with them every touched 2 MiB of its regions stays resident,
// which doubled the operator's RSS.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h`; the bindings do not
/// name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Memory freed is given back to the system at once rather than after
    // 10 ms. A catalog's relist frees a burst of list pages across threads;
    // given back at once, the operator's peak RSS for 10,000 entities is
    // about a tenth lower (bench/catalog).
    // SAFETY: sets one integer option of the allocator; no pointers involved.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    match goldpath::cli::run(goldpath::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
