import Foundation

/// `limactl create`, and the instance resolution `start` shares with it (`loadOrCreateInstance`).
enum CreateCommand {
    /// `editflags.RegisterEdit` subset (shared with `start` and `restart`); `--set` is accepted and ignored.
    static let editFlags: [FlagParser.Flag] = [
        .value("cpus"), .value("memory"), .value("disk"), .value("vm-type"), .value("set"),
    ]
    static let flags = editFlags + [.value("name"), .value("arch")]

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        guard flags.positionals.count <= 1 else {
            throw CLIError.args(
                "create", "accepts at most 1 arg(s), received \(flags.positionals.count)",
                use: "create FILE.yaml|URL [flags]", short: "Create an instance of Lima")
        }
        let name = try loadOrCreate(ctx, flags, createOnly: true)
        ctx.log.info("Run `limactl start \(name)` to start the instance.")
    }

    /// Returns the name of the existing instance (`start` only) or of the one just created.
    static func loadOrCreate(_ ctx: Context, _ flags: FlagParser.Result, createOnly: Bool) throws -> String {
        let arg = flags.positionals.first ?? ""
        var name = flags.string("name") ?? ""
        if !name.isEmpty { try InstanceName.validate(name) }
        let text: String
        let source: String
        if arg.isEmpty || InstanceName.isValid(arg) {
            if !arg.isEmpty {
                if !name.isEmpty && name != arg {
                    throw CLIError.fatal(
                        "instance name \(arg.bq) and CLI flag --name=\(name.bq) cannot be specified together")
                }
                name = arg
            } else if name.isEmpty {
                name = "default"
            }
            let inst = try Instance.inspect(name, home: ctx.home)
            if !inst.missingConfig {
                guard var config = inst.config else {
                    throw CLIError.fatal(
                        "instance \(name.bq) has configuration errors: \(inst.errors.joined(separator: "\n"))")
                }
                if createOnly { throw CLIError.fatal("instance \(name.bq) already exists") }
                ctx.log.info("Using the existing instance \(name.bq)")
                let before = config.text
                try applyEdits(ctx, &config, flags, newInstance: false)
                if config.text != before {
                    try config.validate()
                    try Sys.writeFile(inst.yamlPath, config.text)
                }
                return name
            }
            if !arg.isEmpty && arg != "default" {
                ctx.log.info("Creating an instance \(name.bq) from template:default (Not from template:\(name))")
                ctx.log.warn("This form is deprecated. Use `limactl create --name=\(name) template:default` instead")
            }
            (text, source) = try readTemplate(ctx, "default")
        } else {
            (text, source) = try readLocator(ctx, arg)
            if name.isEmpty { name = try InstanceName.fromPath(source) }
            if createOnly, !(try Instance.inspect(name, home: ctx.home)).missingConfig {
                throw CLIError.fatal("instance \(name.bq) already exists")
            }
        }
        guard !text.isEmpty else { throw CLIError.fatal("got empty instConfig") }
        var config = try LimaConfig(parsing: text, source: source)
        try applyEdits(ctx, &config, flags, newInstance: true)
        ctx.log.info("Terminal is not available, proceeding without opening an editor")
        try create(ctx, name, config)
        return name
    }

    /// `instance.Create` plus the disk that `instance.Prepare` makes.
    static func create(_ ctx: Context, _ name: String, _ config: LimaConfig) throws {
        try InstanceName.validate(name)
        let dir = ctx.home.dir(name)
        try InstanceName.checkSocketPath(name, dir: dir)
        if Sys.exists(dir) { throw CLIError.fatal("instance \(name.bq) already exists (\(dir.bq))") }
        try config.validate()
        try Sys.makeDirectory(ctx.home.path, mode: 0o755)
        try Sys.makeDirectory(dir, mode: 0o700)
        do {
            let user = Sys.env("USER") ?? "lima"
            try Sys.writeFile(dir + "/lima.yaml", config.text)
            try Sys.writeFile(dir + "/lima-version", "v2.2.0")
            try Sys.writeFile(
                dir + "/cloud-config.yaml",
                "#cloud-config\n# Written by the limactl stand-in (nothing boots from it).\nhostname: lima-\(name)\n"
                    + "users:\n  - name: \(Quoting.json(user))\n    homedir: \"/home/\(user).guest\"\n    shell: /bin/bash\n"
            )
            try Sys.createSparseFile(dir + "/disk", size: ByteSize.parse(config.disk) ?? 0)
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    /// The yq edits of `editflags.YQExpressions`, applied as top-level key rewrites.
    static func applyEdits(_ ctx: Context, _ config: inout LimaConfig, _ flags: FlagParser.Result, newInstance: Bool)
        throws
    {
        if let value = flags.string("cpus") {
            guard let cpus = Int(value) else {
                let quoted = Quoting.goQuote(value)
                throw CLIError.fatal(
                    "invalid argument \(quoted) for \"--cpus\" flag: strconv.ParseInt: parsing \(quoted): invalid syntax"
                )
            }
            guard cpus >= 0 else { throw CLIError.fatal("invalid value for number of cpus, must be >= 0") }
            config.set("cpus", String(cpus))
        }
        for key in ["memory", "disk"] {
            guard let value = flags.string(key) else { continue }
            guard let gib = Float(value) else {
                let quoted = Quoting.goQuote(value)
                throw CLIError.fatal(
                    "invalid argument \(quoted) for \"--\(key)\" flag: strconv.ParseFloat: parsing \(quoted): invalid syntax"
                )
            }
            config.set(key, Quoting.json(ByteSize.gib(gib)))
        }
        if let value = flags.string("vm-type"), !value.isEmpty { config.set("vmType", Quoting.json(value)) }
        if let value = flags.string("arch"), !value.isEmpty {
            if newInstance {
                config.set("arch", Quoting.json(value))
            } else {
                ctx.log.warn(
                    "`--arch` is not applicable to an existing instance (Hint: create a new instance with `limactl create --arch=\(value) --name=NAME`)"
                )
            }
        }
    }

    /// `limatmpl.Read` for `template:NAME` and local files; returns the text and where it came from.
    static func readLocator(_ ctx: Context, _ locator: String) throws -> (String, String) {
        if locator.hasPrefix("template:") {
            var name = String(locator.dropFirst("template:".count))
            if name.hasPrefix("//") {
                name = String(name.dropFirst(2))
                ctx.log.warn(
                    "Template locator \(locator.bq) should be written \(("template:" + name).bq) since Lima v2.0")
            }
            return try readTemplate(ctx, name)
        }
        if ["http://", "https://", "github:", "file://"].contains(where: locator.hasPrefix) || locator == "-" {
            throw CLIError.fatal("locator \(locator.bq) is not supported by the limactl stand-in")
        }
        var path = locator
        if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
        path = URL(fileURLWithPath: path).standardized.path
        return (try Sys.readFile(path), path)
    }

    /// `templatestore.Read`: `NAME.yaml` from the template path; `default` falls back to the built-in one.
    static func readTemplate(_ ctx: Context, _ rawName: String) throws -> (String, String) {
        if rawName.contains("..") { throw CLIError.fatal("template name \(rawName.bq) must not contain `..`") }
        let ext = (rawName as NSString).pathExtension
        let name = ext.isEmpty || ext.first?.isNumber == true ? rawName + ".yaml" : rawName
        for dir in ctx.home.templateDirs where Sys.exists(dir + "/" + name) {
            return (try Sys.readFile(dir + "/" + name), dir + "/" + name)
        }
        if name == "default.yaml" { return (LimaConfig.defaultTemplate, name) }
        throw CLIError.fatal("template \(name.bq) not found")
    }
}
