import Foundation
import Glibc

/// `limactl start`: create if needed, launch the host agent in its own session, wait for `running`.
enum StartCommand {
    static let flags = CreateCommand.flags + [.value("timeout"), .bool("foreground"), .bool("progress")]
    /// `DefaultWatchHostAgentEventsTimeout`.
    static let defaultTimeout = 600.0

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        guard flags.positionals.count <= 1 else {
            throw CLIError.args(
                "start", "accepts at most 1 arg(s), received \(flags.positionals.count)",
                use: "start NAME|FILE.yaml|URL [flags]", short: "Start an instance of Lima")
        }
        if flags.bool("foreground") { throw CLIError.fatal("--foreground is not supported by the limactl stand-in") }
        var timeout = defaultTimeout
        if let text = flags.string("timeout") {
            guard let seconds = parseDuration(text) else {
                let quoted = Quoting.goQuote(text)
                throw CLIError.fatal(
                    "invalid argument \(quoted) for \"--timeout\" flag: time: invalid duration \(quoted)")
            }
            if seconds > 0 { timeout = seconds }  // only a positive value replaces the default
        }
        let name = try CreateCommand.loadOrCreate(ctx, flags, createOnly: false)
        try start(ctx, name, timeout: timeout)
    }

    /// `instance.Start`: returns once the host agent reports `running`.
    static func start(_ ctx: Context, _ name: String, timeout: Double, launchingShell: Bool = false) throws {
        let inst = try Instance.inspect(name, home: ctx.home)
        if inst.missingConfig { throw CLIError.fatal(inst.errors.joined(separator: "\n")) }
        let shellHint = name == "default" ? "lima" : "limactl shell \(name)"
        if inst.status == "Running" {
            ctx.log.info("The instance \(name.bq) is already running. Run `\(shellHint)` to open the shell.")
            return
        }
        // v2.2.0 fails on any inspection error; a live host agent is reported as "seems running"
        // below (reference §1.2) so that an orphaned driver is never started a second time.
        if !inst.errors.isEmpty && inst.hostAgentPID == 0 {
            throw CLIError.fatal("errors inspecting instance: [\(inst.errors.joined(separator: " "))]")
        }
        if inst.status != "Stopped" { ctx.log.warn("expected status `Stopped`, got \(inst.status.bq)") }
        let pidFile = inst.hostAgentPIDFile
        if Sys.exists(pidFile) {
            throw CLIError.fatal(
                "instance \(name.bq) seems running (hint: remove \(pidFile.bq) if the instance is not actually running)"
            )
        }
        ctx.log.info("Starting the instance \(name.bq) with internal VM driver \(inst.vmType.bq)")
        let stdoutLog = inst.dir + "/ha.stdout.log"
        let stderrLog = inst.dir + "/ha.stderr.log"
        let begin = Sys.nowMs()
        let agent = try Sys.spawn(
            [Sys.selfExecutable(), "hostagent", "--pidfile", pidFile, name], env: ProcessInfo.processInfo.environment,
            stdio: ["/dev/null", stdoutLog, stderrLog], newSession: true)
        while !Sys.exists(pidFile) {
            if let status = Sys.reap(agent, block: false) {
                throw CLIError.fatal("host agent process has exited: \(Sys.describe(status))")
            }
            if Sys.nowMs() - begin > 5000 {
                throw CLIError.fatal("hostagent (\(pidFile.bq)) did not start up in 5s (hint: see \(stderrLog.bq))")
            }
            Sys.sleepMs(10)
        }
        let deadline = begin + Int64(min(timeout, 1e9) * 1000)
        var seen = 0
        var portLogged = false
        while true {
            // Complete lines only; the events file is small, so it is simply re-read.
            let text = (try? Sys.readFile(stdoutLog)) ?? ""
            let lines = Array(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast())
            for line in lines.dropFirst(seen) {
                let event = Event(line)
                if let port = event.sshLocalPort, !portLogged {
                    ctx.log.info("SSH Local Port: \(port)")
                    portLogged = true
                }
                if !event.errors.isEmpty { ctx.log.error("[\(event.errors)]") }
                if event.exiting {
                    throw CLIError.fatal(
                        "exiting, status={Exiting:true Errors:[\(event.errors)]} (hint: see \(stderrLog.bq))")
                }
                if event.running {
                    if !launchingShell { ctx.log.info("READY. Run `\(shellHint)` to open the shell.") }
                    return
                }
            }
            seen = lines.count
            if let status = Sys.reap(agent, block: false) {
                throw CLIError.fatal("host agent process has exited: \(Sys.describe(status))")
            }
            if Sys.nowMs() >= deadline { throw CLIError.fatal("did not receive an event with the `running` status") }
            Sys.sleepMs(20)
        }
    }

    /// A host agent event line. Only our own host agent writes them (fixed, compact JSON), so
    /// plain string matching is enough.
    private struct Event {
        var running = false
        var exiting = false
        var sshLocalPort: Int?
        var errors = ""

        init(_ line: Substring) {
            running = line.contains("\"running\":true")
            exiting = line.contains("\"exiting\":true")
            if let key = line.range(of: "\"sshLocalPort\":") {
                let digits: Substring = line[key.upperBound...].prefix { (c: Character) -> Bool in c.isNumber }
                sshLocalPort = Int(digits)
            }
            if let key = line.range(of: "\"errors\":[") {
                let list: Substring = line[key.upperBound...].prefix { (c: Character) -> Bool in c != "]" }
                errors = String(list)
            }
        }
    }

    /// Go's `time.ParseDuration`, in seconds (`500ms`, `30s`, `10m`, `1h30m`, `1.5s`).
    static func parseDuration(_ text: String) -> Double? {
        var rest = Substring(text)
        var sign = 1.0
        if let first = rest.first, first == "-" || first == "+" {
            sign = first == "-" ? -1 : 1
            rest = rest.dropFirst()
        }
        if rest == "0" { return 0 }
        guard !rest.isEmpty else { return nil }
        let scale: [Substring: Double] = [
            "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
        ]
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard number.contains(where: \.isNumber), let value = Double(number.hasPrefix(".") ? "0" + number : number)
            else {
                return nil
            }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            rest = rest.dropFirst(unit.count)
            guard let factor = scale[unit] else { return nil }
            total += value * factor
        }
        return sign * total
    }
}
