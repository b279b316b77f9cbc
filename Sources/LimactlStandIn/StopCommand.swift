import Foundation
import Glibc

/// `limactl stop [-f]`: `StopGracefully` (SIGINT to the host agent) or `StopForcibly` (SIGKILL both).
enum StopCommand {
    static let flags: [FlagParser.Flag] = [.bool("force", "f")]

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        guard flags.positionals.count <= 1 else {
            throw CLIError.args(
                "stop", "accepts at most 1 arg(s), received \(flags.positionals.count)",
                use: "stop INSTANCE [flags]", short: "Stop an instance")
        }
        let inst = try existing(ctx, flags.positionals.first ?? "default")
        if flags.bool("force") { forcibly(ctx, inst) } else { try gracefully(ctx, inst, restart: false) }
    }

    /// `store.Inspect` for commands where a missing instance is the raw `open …/lima.yaml` error.
    static func existing(_ ctx: Context, _ name: String) throws -> Instance {
        let inst = try Instance.inspect(name, home: ctx.home)
        if inst.missingConfig { throw CLIError.fatal(inst.errors.joined(separator: "\n")) }
        return inst
    }

    static func gracefully(_ ctx: Context, _ inst: Instance, restart: Bool) throws {
        guard inst.status == "Running" else {
            if restart {
                ctx.log.warn("The instance is not running, continuing with the restart")
                return
            }
            throw CLIError.fatal("expected status `Running`, got \(inst.status.bq) (maybe use `limactl stop -f`?)")
        }
        ctx.log.info("Sending SIGINT to hostagent process \(inst.hostAgentPID)")
        if kill(inst.hostAgentPID, SIGINT) != 0 { ctx.log.error("os: \(Sys.errorText(errno))") }
        ctx.log.info("Waiting for the host agent and the driver processes to shut down")
        let deadline = Sys.nowMs() + 180_000
        while try Instance.inspect(inst.name, home: ctx.home).status != "Stopped" {
            guard Sys.nowMs() < deadline else {
                throw CLIError.fatal("timed out waiting for instance to shut down after 3 minutes")
            }
            Sys.sleepMs(50)
        }
        ctx.log.info("Waiting for the instance to shut down")
        ctx.log.info("The instance \(inst.name) has shut down")
    }

    /// Never fails: kills what is alive, then removes `*.pid`, `*.sock` and `*.tmp` in the directory.
    static func forcibly(_ ctx: Context, _ inst: Instance) {
        if inst.driverPID > 0 {
            ctx.log.info("Sending SIGKILL to the \(inst.vmType) driver process \(inst.driverPID)")
            if kill(inst.driverPID, SIGKILL) != 0 { ctx.log.error("os: \(Sys.errorText(errno))") }
        } else {
            ctx.log.info("The \(inst.vmType) driver process seems already stopped")
        }
        if inst.hostAgentPID > 0 {
            ctx.log.info("Sending SIGKILL to the host agent process \(inst.hostAgentPID)")
            if kill(inst.hostAgentPID, SIGKILL) != 0 { ctx.log.error("os: \(Sys.errorText(errno))") }
        } else {
            ctx.log.info("The host agent process seems already stopped")
        }
        // Unlike Lima, wait (briefly) for the kills to land, so the next `list` is deterministic.
        let deadline = Sys.nowMs() + 2000
        while [inst.driverPID, inst.hostAgentPID].contains(where: Sys.isAlive) && Sys.nowMs() < deadline {
            Sys.sleepMs(5)
        }

        ctx.log.info("Removing *.pid *.sock *.tmp under \(inst.dir.bq)")
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: inst.dir).sorted()
        } catch {
            return ctx.log.error("open \(inst.dir): \(Sys.errorText(ENOENT))")
        }
        for entry in entries where [".pid", ".sock", ".tmp"].contains(where: entry.hasSuffix) {
            let path = inst.dir + "/" + entry
            ctx.log.info("Removing \(path.bq)")
            if unlink(path) != 0 && errno != ENOENT { ctx.log.error("remove \(path): \(Sys.errorText(errno))") }
        }
    }
}
