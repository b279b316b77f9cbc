import Foundation
import Models
import Testing

@testable import PollWorker

private let configPath = ConfigSources.defaultPath
private let keyFilePath = "/etc/limahost/api-key"

/// A file setting the three values that flags and the environment can override.
private let fileWithEverything = """
    {"controlPlaneUrl": "https://file.example.com", "controlPlaneApiKey": "sk-file-0001", "logLevel": "error"}
    """

private let environmentWithEverything = [
    ConfigSources.controlPlaneVariable: "https://env.example.com",
    ConfigSources.logLevelVariable: "debug",
    ConfigSources.apiKeyVariable: "sk-env-0002",
]

private let flagsWithEverything = ConfigSources.Overrides(
    controlPlaneUrl: "https://flag.example.com", apiKey: "sk-flag-0003", logLevel: "trace")

@Suite("ConfigLoader: flag > environment > file > default")
struct ConfigPrecedenceTests {
    private let loader = memoryLoader([configPath: fileWithEverything])

    @Test("The environment variables and the default path have their documented names")
    func names() {
        #expect(ConfigSources.controlPlaneVariable == "LIMAHOST_CONTROL_PLANE_URL")
        #expect(ConfigSources.logLevelVariable == "LIMAHOST_LOG_LEVEL")
        #expect(ConfigSources.apiKeyVariable == "LIMAHOST_API_KEY")
        #expect(ConfigSources.pathVariable == "LIMA_AGENT_CONFIG")
        #expect(ConfigSources.defaultPath == "/etc/limahost/agent.json")
    }

    @Test("controlPlaneUrl: flag over environment over file; none at all is an error")
    func controlPlaneURLPrecedence() {
        let flag = loader.load(configSources(environment: environmentWithEverything, overrides: flagsWithEverything))
        #expect(flag.config.controlPlaneUrl == "https://flag.example.com")

        let environment = loader.load(configSources(environment: environmentWithEverything))
        #expect(environment.config.controlPlaneUrl == "https://env.example.com")

        let file = loader.load(configSources())
        #expect(file.config.controlPlaneUrl == "https://file.example.com")

        let emptyVariable = loader.load(configSources(environment: [ConfigSources.controlPlaneVariable: ""]))
        #expect(emptyVariable.config.controlPlaneUrl == "https://file.example.com")

        let none = memoryLoader([configPath: #"{"controlPlaneApiKey": "sk-file-0001"}"#]).load(configSources())
        #expect(none.config.controlPlaneUrl == nil)
        #expect(
            none.errors == [
                ConfigProblem(
                    .error, "controlPlaneUrl",
                    "is required (the control plane's base URL, e.g. https://api.limahost.com)")
            ])
    }

    @Test("logLevel: flag over environment over file over the default info")
    func logLevelPrecedence() {
        #expect(
            loader.load(configSources(environment: environmentWithEverything, overrides: flagsWithEverything))
                .config.logLevel == .trace)
        #expect(loader.load(configSources(environment: environmentWithEverything)).config.logLevel == .debug)
        #expect(loader.load(configSources()).config.logLevel == .error)
        let noLevel = memoryLoader([configPath: #"{"controlPlaneUrl": "https://cp.example.com"}"#])
        #expect(noLevel.load(configSources()).config.logLevel == .info)
    }

    @Test("warn is accepted as warning, in any case")
    func warnAlias() {
        let result = loader.load(configSources(environment: [ConfigSources.logLevelVariable: "WARN"]))
        #expect(result.config.logLevel == .warning)
        #expect(result.errors.isEmpty)
    }

    @Test("A bad log level from the environment or a flag is an error naming where it came from")
    func badLogLevelOrigins() {
        let result = loader.load(
            configSources(
                environment: [ConfigSources.logLevelVariable: "loud"],
                overrides: ConfigSources.Overrides(logLevel: "verbose")))
        #expect(
            Set(result.errors.map(\.description)) == [
                #"logLevel: environment LIMAHOST_LOG_LEVEL: must be one of trace, debug, info, notice, warning, error, critical, got "loud""#,
                #"logLevel: --log-level: must be one of trace, debug, info, notice, warning, error, critical, got "verbose""#,
            ])
        // The file's level stays in force.
        #expect(result.config.logLevel == .error)
    }

    @Test("The API key: flag over environment over file, and its source is reported")
    func apiKeyPrecedence() {
        let flag = loader.load(configSources(environment: environmentWithEverything, overrides: flagsWithEverything))
        #expect(flag.config.controlPlaneApiKey == Secret("sk-flag-0003"))
        #expect(flag.apiKeySource == "--api-key (visible in ps: prefer LIMAHOST_API_KEY or controlPlaneApiKeyFile)")

        let environment = loader.load(configSources(environment: environmentWithEverything))
        #expect(environment.config.controlPlaneApiKey == Secret("sk-env-0002"))
        #expect(environment.apiKeySource == "environment LIMAHOST_API_KEY")

        let file = loader.load(configSources())
        #expect(file.config.controlPlaneApiKey == Secret("sk-file-0001"))
        #expect(file.apiKeySource == "controlPlaneApiKey in /etc/limahost/agent.json")

        for result in [flag, environment, file] {
            #expect(result.problems.isEmpty, "\(result.problems)")
        }
    }

    @Test("The key file's first line, trimmed, is the key")
    func keyFromFile() {
        let file = #"{"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKeyFile": "/etc/limahost/api-key"}"#
        let result = memoryLoader([configPath: file, keyFilePath: "  sk-from-file-0004 \t\nsecond line\n"])
            .load(configSources())
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.config.controlPlaneApiKey?.exposedValue == "sk-from-file-0004")
        #expect(result.config.controlPlaneApiKeyFile == keyFilePath)
        #expect(result.apiKeySource == "controlPlaneApiKeyFile /etc/limahost/api-key")
    }

    @Test("A missing key file is a host problem, not a configuration error")
    func missingKeyFile() {
        let file = #"{"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKeyFile": "/etc/limahost/api-key"}"#
        let result = memoryLoader([configPath: file]).load(configSources())
        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(
            result.hostProblems == [
                ConfigProblem(
                    .host, "controlPlaneApiKeyFile", "cannot read /etc/limahost/api-key: No such file or directory")
            ])
        #expect(result.config.controlPlaneApiKey == nil)
    }

    @Test("An empty key file is a host problem")
    func emptyKeyFile() {
        let file = #"{"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKeyFile": "/etc/limahost/api-key"}"#
        let result = memoryLoader([configPath: file, keyFilePath: "   \n"]).load(configSources())
        #expect(result.errors.isEmpty)
        #expect(
            result.hostProblems == [ConfigProblem(.host, "controlPlaneApiKeyFile", "/etc/limahost/api-key is empty")])
    }

    @Test("A key from the environment wins over the key file, which is then not read")
    func environmentKeyBeatsKeyFile() {
        let file = #"{"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKeyFile": "/etc/limahost/api-key"}"#
        let result = memoryLoader([configPath: file]).load(
            configSources(environment: [ConfigSources.apiKeyVariable: "sk-env-0002"]))
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.config.controlPlaneApiKey == Secret("sk-env-0002"))
    }

    @Test("Setting both controlPlaneApiKey and controlPlaneApiKeyFile is an error")
    func keyAndKeyFile() {
        let file = """
            {"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": "sk-file-0001",
             "controlPlaneApiKeyFile": "/etc/limahost/api-key"}
            """
        let result = memoryLoader([configPath: file, keyFilePath: "sk-from-file-0004\n"]).load(configSources())
        #expect(
            result.errors == [
                ConfigProblem(
                    .error, "controlPlaneApiKeyFile", "set controlPlaneApiKey or controlPlaneApiKeyFile, not both")
            ])
    }

    @Test("No API key anywhere is an error")
    func noKey() {
        let result = memoryLoader([configPath: #"{"controlPlaneUrl": "https://cp.example.com"}"#])
            .load(configSources())
        #expect(result.apiKeySource == "none")
        #expect(
            result.errors == [
                ConfigProblem(
                    .error, "controlPlaneApiKey",
                    "no API key: set LIMAHOST_API_KEY, controlPlaneApiKeyFile or controlPlaneApiKey")
            ])
    }

    @Test("The config path: --config over LIMA_AGENT_CONFIG over /etc/limahost/agent.json")
    func configPathPrecedence() {
        let environment = [ConfigSources.pathVariable: "/env/agent.json"]
        let overrides = ConfigSources.Overrides()
        #expect(
            ConfigSources(configFlag: "/flag/agent.json", environment: environment, overrides: overrides).configPath
                == "/flag/agent.json")
        #expect(
            ConfigSources(configFlag: nil, environment: environment, overrides: overrides).configPath
                == "/env/agent.json")
        #expect(
            ConfigSources(configFlag: "", environment: environment, overrides: overrides).configPath
                == "/env/agent.json")
        #expect(
            ConfigSources(configFlag: nil, environment: [:], overrides: overrides).configPath
                == "/etc/limahost/agent.json")
        #expect(
            ConfigSources(configFlag: nil, environment: [ConfigSources.pathVariable: ""], overrides: overrides)
                .configPath == "/etc/limahost/agent.json")
    }

    @Test("The loader reads the file the config path names")
    func loaderReadsChosenPath() {
        let valid = #"{"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": "sk-test-0001"}"#
        let loader = memoryLoader(["/flag/agent.json": valid, "/env/agent.json": "not json"])
        let result = loader.load(
            ConfigSources(
                configFlag: "/flag/agent.json", environment: [ConfigSources.pathVariable: "/env/agent.json"],
                overrides: ConfigSources.Overrides()))
        #expect(result.path == "/flag/agent.json")
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.apiKeySource == "controlPlaneApiKey in /flag/agent.json")
    }
}

@Suite("ConfigLoader: the control plane URL")
struct ControlPlaneURLTests {
    private func problem(_ url: String, allowInsecure: Bool = false) -> String? {
        ConfigLoader.controlPlaneURLProblem(url, allowInsecure: allowInsecure)
    }

    @Test(
        "http:// to a loopback host is fine",
        arguments: ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "http://127.1.2.3/"])
    func loopbackHTTP(url: String) {
        #expect(problem(url) == nil)
    }

    @Test("https:// to any host is fine")
    func httpsAnywhere() {
        #expect(problem("https://api.limahost.com") == nil)
        #expect(problem("https://cp.example.com:8443/base") == nil)
    }

    @Test("http:// to another host needs security.allowInsecureHttp")
    func insecureHTTP() {
        #expect(
            problem("http://cp.example.com")
                == "http:// is only allowed for loopback hosts or with security.allowInsecureHttp")
        #expect(
            problem("http://localhost.example.com")
                == "http:// is only allowed for loopback hosts or with security.allowInsecureHttp")
        #expect(problem("http://cp.example.com", allowInsecure: true) == nil)
    }

    @Test("security.allowInsecureHttp in the file allows http:// to another host")
    func insecureHTTPFromFile() {
        let file = """
            {"controlPlaneUrl": "http://cp.example.com", "controlPlaneApiKey": "sk-test-0001",
             "security": {"allowInsecureHttp": true}}
            """
        let result = memoryLoader([ConfigSources.defaultPath: file]).load(configSources())
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.config.security.allowInsecureHttp)
    }

    @Test("http:// to [::1] passes through the loader")
    func loopbackIPv6FromLoader() {
        let file = #"{"controlPlaneUrl": "http://[::1]:8080", "controlPlaneApiKey": "sk-test-0001"}"#
        let result = memoryLoader([ConfigSources.defaultPath: file]).load(configSources())
        #expect(result.errors.isEmpty, "\(result.errors)")
    }

    @Test("Other schemes are refused")
    func otherSchemes() {
        #expect(problem("ftp://cp.example.com") == "must use https:// (or http:// to a loopback host), got \"ftp://\"")
    }

    @Test("A URL with credentials is refused")
    func credentials() {
        #expect(
            problem("https://user:hunter2@cp.example.com")
                == "must not contain credentials (use controlPlaneApiKeyFile)")
    }

    @Test("A URL with a query is refused")
    func query() {
        #expect(
            problem("https://cp.example.com/?key=abc")
                == "must not have a query or fragment, got \"https://cp.example.com/?key=abc\"")
    }

    @Test("A relative URL is refused")
    func relative() {
        #expect(problem("cp.example.com") == "must be an absolute http(s) URL, got \"cp.example.com\"")
    }
}
