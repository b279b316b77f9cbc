import Foundation
import Glibc

/// `limactl shell`: builds the remote script exactly like cmd/limactl/shell.go and runs it with
/// `/bin/sh -c` on this host (the simulated guest), in `<dir>/guest-home`.
enum ShellCommand {
    static let flags: [FlagParser.Flag] = [
        .value("shell"), .value("workdir"), .value("instance"), .bool("start"), .bool("preserve-env"),
        .bool("reconnect"),
    ]
    /// `envutil`'s default block list for `--preserve-env` (`*` matches any suffix).
    static let blockList = [
        "BASH*", "DISPLAY", "DYLD_*", "EUID", "FPATH", "GID", "GROUP", "HOME", "HOSTNAME", "LD_*", "LOGNAME", "OLDPWD",
        "PATH", "PWD", "SHELL", "SHLVL", "SSH_*", "TERM", "TERMINFO", "TMPDIR", "UID", "USER", "XAUTHORITY", "XDG_*",
        "ZDOTDIR", "ZSH*", "_*",
    ]

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        var command = flags.positionals
        var name = flags.string("instance") ?? ""
        if name.isEmpty {
            guard let first = command.first else { throw CLIError.fatal("requires instance name as first argument") }
            name = first
            command.removeFirst()
            if command.first == "--" { command.removeFirst() }
        }
        if let word = command.first, ["create", "start", "delete", "shell"].contains(word) {
            ctx.log.warn("Perhaps you meant `limactl \(command.joined(separator: " "))`?")
        }
        var inst = try Instance.inspect(name, home: ctx.home)
        if inst.missingConfig {
            throw CLIError.fatal(
                "instance \(name.bq) does not exist, run `limactl create \(name)` to create a new instance")
        }
        if !inst.errors.isEmpty {
            ctx.log.log(
                .error, "Instance \(name.bq) has configuration errors", [("error", inst.errors.joined(separator: "\n"))]
            )
        }
        guard inst.config != nil else { throw CLIError.fatal("instance \(name.bq) has no configuration") }
        if inst.status == "Stopped" {
            guard flags.bool("start") else {
                throw CLIError.fatal(
                    "instance \(name.bq) is stopped, run `limactl start \(name)` to start the instance")
            }
            try StartCommand.start(ctx, name, timeout: StartCommand.defaultTimeout, launchingShell: true)
            inst = try Instance.inspect(name, home: ctx.home)
        }
        let script = remoteScript(flags, command)
        ctx.log.log(.debug, "script=\(script)")

        let home = inst.dir + "/guest-home"
        try Sys.makeDirectory(home, mode: 0o755)
        guard chdir(home) == 0 else { throw CLIError.fatal("chdir \(home): \(Sys.errorText(errno))") }
        let host = ProcessInfo.processInfo.environment
        var env = ["HOME": home, "SHELL": "/bin/sh", "PATH": host["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"]
        for key in ["USER", "LOGNAME", "LANG"] { env[key] = host[key] }
        let child = try Sys.spawn(["/bin/sh", "-c", script], env: env, stdio: [nil, nil, nil], newSession: false)
        let status = Sys.reap(child, block: true) ?? 0
        throw CLIError.exit(Sys.exitCode(status) ?? 255)  // like ssh: 255 when the remote side dies abnormally
    }

    /// `<changeDirCmd> ; exec <envPrefix><shell> -l [-c <quoted command>]`.
    static func remoteScript(_ flags: FlagParser.Result, _ command: [String]) -> String {
        let workdir = flags.string("workdir") ?? ""
        let changeDir = workdir.isEmpty ? "false" : "cd \(Quoting.shell(workdir)) || exit 1"
        let shellFlag = flags.string("shell") ?? ""
        let shell = shellFlag.isEmpty ? "\"$SHELL\"" : Quoting.shell(shellFlag)
        var envPrefix = ""
        if flags.bool("preserve-env") {
            let kept = ProcessInfo.processInfo.environment.sorted { $0.key < $1.key }.filter { key, _ in
                !blockList.contains { $0.hasSuffix("*") ? key.hasPrefix($0.dropLast()) : key == $0 }
            }
            if !kept.isEmpty { envPrefix = "env " + kept.map { Quoting.shell("\($0.key)=\($0.value)") + " " }.joined() }
        }
        var script = "\(changeDir) ; exec \(envPrefix)\(shell) -l"
        if !command.isEmpty {
            var parsingEnv = true
            let quoted = command.map { word -> String in
                if parsingEnv, let equals = word.firstIndex(of: "=") {
                    return word[..<equals] + "=" + Quoting.shell(String(word[word.index(after: equals)...]))
                }
                parsingEnv = false
                return Quoting.shell(word)
            }
            script += " -c " + Quoting.shell(quoted.joined(separator: " "))
        }
        return script
    }
}
