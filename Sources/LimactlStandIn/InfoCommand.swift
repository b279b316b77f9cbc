/// `limactl info`: a trimmed `LimaInfo`, indented by 4 like limactl prints it.
enum InfoCommand {
    static let flags: [FlagParser.Flag] = [.value("yq")]

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        if let extra = flags.positionals.first {
            throw CLIError.args(
                "info", "unknown command \(Quoting.goQuote(extra)) for \"limactl info\"",
                use: "info [flags]", short: "Show diagnostic information")
        }
        Sys.write(
            1,
            """
            {
                "version": "2.2.0",
                "limaHome": \(Quoting.json(ctx.home.path)),
                "vmTypes": [
                    "qemu"
                ],
                "hostOS": "linux",
                "hostArch": \(Quoting.json(LimaConfig.hostArch)),
                "identityFile": \(Quoting.json(ctx.home.identityFile))
            }

            """)
    }
}
