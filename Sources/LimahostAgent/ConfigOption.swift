import ArgumentParser

/// `--config`, shared by the agent and its `approvals` subcommands (a parent's
/// option also parses after a subcommand, so both must read the same group).
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The JSON configuration file.", valueName: "path"))
    var config: String?
}
