import ArgumentParser
import PollWorker

/// The command line of `limahost-agent`. Parsing only: `Launcher` does the work.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limahost-agent",
        abstract: "Pulls jobs from the LimaHost control plane and runs them with limactl.",
        discussion: """
            Configuration comes from --config, else $LIMA_AGENT_CONFIG, else /etc/limahost/agent.json; \
            precedence is flag > environment > file > default. Exit codes: 0 ok; 1 some job did not \
            succeed (--drain); 2 usage or configuration error; 3 the control plane was unreachable or \
            refused the key (--drain).
            """,
        version: AgentVersion.current,
        subcommands: [ApprovalsCommand.self])

    @OptionGroup var configOption: ConfigOption
    var config: String? { configOption.config }

    @Option(
        name: .customLong("control-plane"),
        help: ArgumentHelp("The control plane's base URL (overrides controlPlaneUrl).", valueName: "url"))
    var controlPlane: String?

    @Option(
        name: .customLong("api-key"),
        help: ArgumentHelp(
            "The API key. Prefer LIMAHOST_API_KEY or controlPlaneApiKeyFile: arguments show in ps.",
            valueName: "key"))
    var apiKey: String?

    @Option(
        name: .customLong("log-level"),
        help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: String?

    @Flag(
        help:
            "Empty the job queue, deliver every result, and exit (0 all succeeded, 1 some did not, 3 no control plane)."
    )
    var drain = false

    @Flag(name: .customLong("check-config"), help: "Print the effective configuration and every problem; exit 0 or 2.")
    var checkConfig = false
}
