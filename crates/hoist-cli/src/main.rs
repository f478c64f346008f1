//! The `hoist` binary. See the `hoist_cli` library for the commands.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    hoist_cli::init_logging();
    let cli = hoist_cli::Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hoist: error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    rt.block_on(hoist_cli::run(cli))
}
