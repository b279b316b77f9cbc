import Glibc

/// The hidden `driver` subcommand: stands in for the VM process (qemu). It only waits for a signal;
/// SIGINT/SIGTERM/SIGKILL end it with the default action.
enum Driver {
    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        while true { pause() }
    }
}
