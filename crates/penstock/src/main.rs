//! The `penstock` command.

use clap::Parser;

fn main() {
    let cli = penstock::cli::Cli::parse();
    if cli.command.only_prints() {
        // `penstock runs list | head`: a closed stdout ends the command quietly, as for other
        // Unix tools, instead of a "Broken pipe" panic. Commands that execute runs keep
        // ignoring SIGPIPE so that they can stop their tasks cleanly.
        penstock::cli::exit_quietly_on_closed_pipe();
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("PENSTOCK_LOG")
        .unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("penstock: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let outcome = runtime.block_on(penstock::cli::dispatch(cli));
    std::process::exit(outcome.code());
}
