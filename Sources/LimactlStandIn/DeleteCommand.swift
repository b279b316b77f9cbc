import Foundation

/// `limactl delete [-f] INSTANCE...` (aliases `remove`, `rm`).
enum DeleteCommand {
    static let flags: [FlagParser.Flag] = [.bool("force", "f")]

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        guard !flags.positionals.isEmpty else {
            throw CLIError.args(
                "delete", "requires at least 1 arg(s), only received 0",
                use: "delete INSTANCE [INSTANCE, ...] [flags]", short: "Delete an instance of Lima")
        }
        var problems: [String] = []
        for name in flags.positionals {
            let inst = try Instance.inspect(name, home: ctx.home)
            if inst.missingConfig {
                if !Sys.exists(inst.dir) {
                    ctx.log.warn("Ignoring non-existent instance \(name.bq)")
                } else {
                    problems.append(
                        "instance \(name.bq) directory \(inst.dir.bq) exists but its `lima.yaml` could not be read; "
                            + "it was NOT deleted, in case it is currently being cloned into. "
                            + "If no `limactl` operation is using it, remove it manually")
                }
                continue
            }
            if inst.protected {
                throw CLIError.fatal(
                    "failed to delete instance \(name.bq): instance is protected to prohibit accidental removal (Hint: use `limactl unprotect`)"
                )
            }
            if !flags.bool("force") && inst.status != "Stopped" {
                throw CLIError.fatal(
                    "failed to delete instance \(name.bq): expected status `Stopped`, got \(inst.status.bq)")
            }
            StopCommand.forcibly(ctx, inst)
            do {
                try FileManager.default.removeItem(atPath: inst.dir)
            } catch {
                throw CLIError.fatal(
                    "failed to delete instance \(name.bq): failed to remove \(inst.dir.bq): \(error.localizedDescription)"
                )
            }
            ctx.log.info("Deleted \(name.bq) (\(inst.dir.bq))")
        }
        if !problems.isEmpty { throw CLIError.fatal(problems.joined(separator: "\n")) }
    }
}
