import Glibc

/// The hidden `driver` subcommand: stands in for the VM process (qemu). It only waits for a signal;
/// SIGINT/SIGTERM/SIGKILL end it with the default action.
///
/// `LIMA_STANDIN_DRIVER_RSS_MB=N` makes it hold N MiB of touched memory, so that a test
/// knows the VM process's RSS; it also writes `serial.log` lines, as a console would.
enum Driver {
    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        if let text = getenv("LIMA_STANDIN_DRIVER_RSS_MB").map({ String(cString: $0) }), let megabytes = Int(text),
            megabytes > 0
        {
            let size = megabytes << 20
            if let memory = malloc(size) {
                // Touch every page so it counts in the resident set, and read one byte per
                // page back so the stores cannot be optimised away. Never freed: it stays.
                memset(memory, 0x5A, size)
                let bytes = memory.assumingMemoryBound(to: UInt8.self)
                var sum = 0
                for page in stride(from: 0, to: size, by: 4096) { sum &+= Int(bytes[page]) }
                if sum == 0 { _ = write(2, "driver: memory not touched\n", 27) }
            }
        }
        while true { pause() }
    }
}
