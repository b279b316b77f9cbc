/// `limactl list` (alias `ls`): JSON Lines, names only, or the default table.
enum ListCommand {
    static let flags: [FlagParser.Flag] = [
        .value("format", "f"), .bool("json"), .bool("quiet", "q"), .bool("all-fields"),
    ]

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        let quiet = flags.bool("quiet")
        if flags.bool("json") && flags.has("format") {
            throw CLIError.fatal("option --json conflicts with option --format")
        }
        let format = flags.bool("json") ? "json" : flags.string("format") ?? "table"
        if quiet && format != "table" { throw CLIError.fatal("option --quiet can only be used with '--format table'") }
        guard format == "json" || format == "table" else {
            throw CLIError.fatal("--format \(format.bq) is not supported by the limactl stand-in (use json or table)")
        }
        let all = ctx.home.instanceNames()
        if flags.positionals.isEmpty && all.isEmpty {
            return ctx.log.warn("No instance found. Run `limactl create` to create an instance.")
        }
        var names = flags.positionals.isEmpty ? all : []
        var unmatched = false
        for arg in flags.positionals {
            if all.contains(arg) {
                names.append(arg)
            } else {
                ctx.log.warn("No instance matching \(arg) found.")
                unmatched = true
            }
        }
        if quiet {
            Sys.write(1, names.map { $0 + "\n" }.joined())
        } else {
            var instances: [Instance] = []
            for name in names {
                do {
                    instances.append(try Instance.inspect(name, home: ctx.home))
                } catch {
                    throw CLIError.fatal("unable to load instance \(name): \(error)")
                }
            }
            for inst in instances where !inst.errors.isEmpty {
                ctx.log.log(
                    .warning, "instance \(inst.name.bq) has errors",
                    [("errors", "[\(inst.errors.joined(separator: " "))]")])
            }
            let output =
                format == "json" ? instances.map { $0.jsonLine(home: ctx.home) + "\n" }.joined() : table(instances)
            Sys.write(1, output)
        }
        if unmatched { throw CLIError.fatal("unmatched instances") }
    }

    /// `tabwriter.NewWriter(w, 4, 8, 4, ' ', 0)` over `NAME STATUS SSH VMTYPE ARCH CPUS MEMORY DISK DIR`.
    static func table(_ instances: [Instance]) -> String {
        let home = Sys.env("HOME") ?? ""
        var rows = [["NAME", "STATUS", "SSH", "VMTYPE", "ARCH", "CPUS", "MEMORY", "DISK", "DIR"]]
        for inst in instances {
            var dir = inst.dir
            if !home.isEmpty, dir.hasPrefix(home) { dir = "~" + dir.dropFirst(home.count) }
            let address = inst.config == nil ? "" : "127.0.0.1"
            rows.append([
                inst.name, inst.status, "\(address):\(inst.sshLocalPort)", inst.vmType, inst.config?.arch ?? "",
                "\(inst.config?.cpus ?? 0)", ByteSize.format(inst.memoryBytes), ByteSize.format(inst.diskBytes), dir,
            ])
        }
        let widths = (0..<8).map { column in max(4, (rows.map { $0[column].count }.max() ?? 0) + 4) }
        return rows.map { row in
            row.enumerated().map { column, cell in
                column < widths.count ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0) : cell
            }.joined() + "\n"
        }.joined()
    }
}
