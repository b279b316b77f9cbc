import Foundation
import Glibc

/// The hidden `hostagent` subcommand: owns `ha.pid`, runs the simulated driver, writes JSON events on
/// stdout (ha.stdout.log) and JSON logs on stderr (ha.stderr.log). SIGINT/SIGTERM stop it cleanly.
enum HostAgent {
    static let flags: [FlagParser.Flag] = [.value("pidfile", "p"), .value("socket")]

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGINT, SIGTERM, SIGCHLD] { sigaddset(&signals, signal) }
        sigprocmask(SIG_BLOCK, &signals, nil)  // taken with sigtimedwait below
        var log = ctx.log
        log.json = true
        do {
            try serve(ctx.home, log, flags, &signals)
        } catch CLIError.fatal(let message) {
            log.log(.fatal, message)
            throw CLIError.exit(1)
        }
    }

    private static func serve(_ home: LimaHome, _ log: Logger, _ flags: FlagParser.Result, _ signals: inout sigset_t)
        throws
    {
        guard flags.positionals.count == 1, let name = flags.positionals.first else {
            throw CLIError.fatal("accepts 1 arg(s), received \(flags.positionals.count)")
        }
        let inst = try Instance.inspect(name, home: home)
        guard let config = inst.config else { throw CLIError.fatal(inst.errors.joined(separator: "\n")) }
        let pidFile = flags.string("pidfile") ?? ""
        if !pidFile.isEmpty {
            let (existing, _) = Instance.readPID(pidFile)
            if existing != 0 {
                throw CLIError.fatal(
                    "another hostagent may already be running with pid \(existing) (pidfile \(pidFile.bq))")
            }
            try Sys.writeFile(pidFile, "\(getpid())\n")
        }
        let port = Instance.sshPort(for: name)
        let user = Sys.env("USER") ?? "lima"
        try? Sys.writeFile(
            inst.dir + "/ssh.config",
            "Host \(inst.hostname)\n  IdentityFile \"\(home.identityFile)\"\n  User \(user)\n  Hostname 127.0.0.1\n  Port \(port)\n"
        )
        let driver: pid_t
        do {
            driver = try Sys.spawn(
                [Sys.selfExecutable(), "driver", name], env: ProcessInfo.processInfo.environment,
                stdio: ["/dev/null", "/dev/null", "/dev/null"], newSession: false)
        } catch {
            unlink(pidFile)
            throw error
        }
        try? Sys.writeFile(inst.driverPIDFile, "\(driver)\n")
        // What a VM's serial console would show while it boots.
        try? Sys.writeFile(
            inst.dir + "/serial.log",
            "[    0.000000] Linux version 6.8.0 (stand-in)\n[    0.100000] Booting \(name)\n[    1.000000] \(name) login:\n"
        )
        log.info("Starting the simulated \(config.vmType) driver (pid \(driver))")
        emit("\"sshLocalPort\":\(port)")

        let bootMs = min(max(0, Int64(Sys.env("LIMA_STANDIN_BOOT_MS") ?? "") ?? 50), 1_000_000_000_000)
        let readyAt = Sys.nowMs() + bootMs
        var running = false
        while true {
            let wait = running ? 1000 : max(0, readyAt - Sys.nowMs())
            var timeout = timespec(tv_sec: Int(wait / 1000), tv_nsec: Int(wait % 1000) * 1_000_000)
            var info = siginfo_t()
            let signal = sigtimedwait(&signals, &info, &timeout)
            if signal == SIGINT || signal == SIGTERM {
                log.info("Received \(signal == SIGINT ? "SIGINT" : "SIGTERM"), shutting down the host agent")
                stopDriver(driver)
                unlink(inst.driverPIDFile)
                emit("\"exiting\":true")
                unlink(pidFile)
                return
            }
            if let status = Sys.reap(driver, block: false) {
                let message = "driver process \(driver) exited: \(Sys.describe(status))"
                log.error(message)
                unlink(inst.driverPIDFile)
                emit("\"exiting\":true,\"errors\":[\(Quoting.json(message))]")
                unlink(pidFile)
                throw CLIError.exit(1)
            }
            if !running && Sys.nowMs() >= readyAt {
                running = true
                emit("\"running\":true,\"sshLocalPort\":\(port)")
            }
        }
    }

    /// SIGTERM, then SIGKILL after 5 s; always reaps.
    private static func stopDriver(_ driver: pid_t) {
        kill(driver, SIGTERM)
        let deadline = Sys.nowMs() + 5000
        while Sys.reap(driver, block: false) == nil {
            if Sys.nowMs() > deadline {
                kill(driver, SIGKILL)
                _ = Sys.reap(driver, block: true)
                return
            }
            Sys.sleepMs(10)
        }
    }

    /// One `hostagentevents.Event` line: `{"time":…,"status":{…}}`.
    private static func emit(_ status: String) {
        Sys.write(1, "{\"time\":\(Quoting.json(Logger.timestamp())),\"status\":{\(status)}}\n")
    }
}
