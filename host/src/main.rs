//! `bulwark`: the command-line entry point. It sets up logging and the async runtime,
//! then hands the parsed command to [`cli::dispatch`]; every command lives in `cli/`.

mod cli;

use clap::Parser;
use std::io::IsTerminal;

fn main() {
    let args = cli::args::Cli::parse_from(cli::args::with_default_command(std::env::args_os()));
    let default = match args.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .init();
    // Plugins run on blocking threads, and glibc gives each thread that allocates an arena
    // of its own: at a thousand containers that was ~5 MiB of peak RSS for nothing.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bulwark: cannot start the async runtime: {e}");
            std::process::exit(cli::EXIT_CANNOT_RUN);
        }
    };
    let c = args.connection;
    bulwark::docker::configure(bulwark::docker::Settings {
        tls_verify: c.tlsverify,
        ca: c.tlscacert,
        cert: c.tlscert,
        key: c.tlskey,
        context: c.context,
        api_timeout: (c.api_timeout > 0).then(|| std::time::Duration::from_secs(c.api_timeout)),
        api_concurrency: Some(c.api_concurrency),
    });
    match rt.block_on(cli::dispatch(args.command)) {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // Daemon and file error text is outside input: no escapes reach the terminal.
            eprintln!(
                "bulwark: error: {}",
                bulwark::report::sanitize(&format!("{e:#}"))
            );
            std::process::exit(cli::exit_code_of(&e));
        }
    }
}
