import Glibc

/// The root command: the root check, global flags, and dispatch to a subcommand.
enum CLI {
    struct Command {
        let flags: [FlagParser.Flag]
        var interspersed = true
        let run: (Context, FlagParser.Result) throws -> Void
    }

    /// Real limactl commands the stand-in does not simulate.
    static let unimplemented: Set = [
        "copy", "cp", "validate", "prune", "guest-install", "show-ssh", "debug", "edit", "factory-reset", "disk",
        "usernet",
        "generate-doc", "generate-jsonschema", "snapshot", "screenshot", "protect", "unprotect", "tunnel", "template",
        "sudoers", "autostart", "start-at-login", "network", "clone", "rename", "watch", "yq-restrictions",
    ]

    static let usage = """
        Lima: Linux virtual machines (limactl stand-in for tests and demos)

        Usage:
          limactl [command]

        Commands: create, start, stop, restart, delete (rm), list (ls), shell, info

        """

    static func main(_ args: [String]) -> Int32 {
        if geteuid() == 0 && Sys.env("LIMA_STANDIN_ALLOW_ROOT") != "1" && args.first != "generate-doc" {
            Sys.write(2, "limactl: must not run as the root user\n")
            return 1
        }
        var log = Logger()
        log.json = prescanJSON(args)
        do {
            let root = try FlagParser(flags: FlagParser.global + [.bool("version", "v")], stopAtFirstPositional: true)
                .parse(args)
            if root.bool("version") {
                Sys.write(1, "limactl version 2.2.0\n")
                return 0
            }
            guard let name = root.positionals.first, name != "help" else {
                Sys.write(1, usage)
                return 0
            }
            if unimplemented.contains(name) {
                throw CLIError.fatal("`limactl \(name)` is not implemented by the limactl stand-in")
            }
            guard let command = command(name) else {
                throw CLIError.fatal("unknown command \(Quoting.goQuote(name)) for \"limactl\"")
            }
            var flags = try FlagParser(
                flags: FlagParser.global + command.flags, stopAtFirstPositional: !command.interspersed
            )
            .parse(Array(root.positionals.dropFirst()))
            for (key, values) in root.values { flags.values[key] = values + (flags.values[key] ?? []) }
            let ctx = try Context(flags, log: log)
            log = ctx.log
            if flags.bool("help") {
                Sys.write(1, usage)
                return 0
            }
            try command.run(ctx, flags)
            return 0
        } catch CLIError.exit(let code) {
            return code
        } catch {
            log.log(.fatal, "\(error)")
            return 1
        }
    }

    static func command(_ name: String) -> Command? {
        switch name {
        case "create": Command(flags: CreateCommand.flags, run: CreateCommand.run)
        case "start": Command(flags: StartCommand.flags, run: StartCommand.run)
        case "stop": Command(flags: StopCommand.flags, run: StopCommand.run)
        case "restart": Command(flags: RestartCommand.flags, run: RestartCommand.run)
        case "delete", "remove", "rm": Command(flags: DeleteCommand.flags, run: DeleteCommand.run)
        case "list", "ls": Command(flags: ListCommand.flags, run: ListCommand.run)
        case "shell": Command(flags: ShellCommand.flags, interspersed: false, run: ShellCommand.run)
        case "info": Command(flags: InfoCommand.flags, run: InfoCommand.run)
        case "hostagent": Command(flags: HostAgent.flags, run: HostAgent.run)
        case "driver": Command(flags: [], run: Driver.run)
        default: nil
        }
    }

    /// `--log-format json` must shape even the errors of flag parsing itself.
    private static func prescanJSON(_ args: [String]) -> Bool {
        var json = false
        for (index, arg) in args.enumerated() {
            if arg == "--" { break }
            if arg == "--log-format=json"
                || (arg == "--log-format" && index + 1 < args.count && args[index + 1] == "json")
            {
                json = true
            } else if arg.hasPrefix("--log-format=") || (arg == "--log-format" && index + 1 < args.count) {
                json = false
            }
        }
        return json
    }
}
