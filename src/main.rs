//! Entry point: the file name in argv[0] decides the mode. Called as `vps-provider` it is the
//! operator's tool; under any other name (a symlink such as
//! `/opt/webdir/providers/acme/bin/acme`) it is that provider's plugin for the panel.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_default();
    let name = Path::new(&program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest: Vec<_> = args.collect();
    if name == vps_provider::OPERATOR_NAME {
        vps_provider::ops::main(rest)
    } else {
        vps_provider::protocol_main(&name, &rest)
    }
}
