import Foundation
import Models
import Testing

@testable import PollWorker

private let configPath = ConfigSources.defaultPath
private let keyFilePath = "/etc/limahost/api-key"

/// A configuration with six different mistakes, one per rule family.
private let sixMistakesKey = "sk-live-SIXMISTAKES-0123"
private let sixMistakes = """
    {
      "controlPlaneUrl": "http://cp.example.com",
      "controlPlaneApiKey": "\(sixMistakesKey)",
      "heartbeatInterval": 500,
      "logLevel": "loud",
      "templatesDir": "relative/templates",
      "security": { "allowedControlPlaneIps": ["10.0.0.0/33"] },
      "resourceLimits": { "maxCpuPerVm": "eight" }
    }
    """

@Suite("ConfigLoader: the file, its defaults and its mistakes")
struct ConfigLoaderTests {
    @Test("AgentConfig's defaults are the documented ones")
    func agentConfigDefaults() {
        let config = AgentConfig(agentId: "a", agentName: "a")
        #expect(config.pollInterval == 0)
        #expect(config.controlPlaneUrl == nil)
        #expect(config.controlPlaneApiKey == nil)
        #expect(config.controlPlaneApiKeyFile == nil)
        #expect(config.heartbeatInterval == 30_000)
        #expect(config.metricsInterval == 10_000)
        #expect(config.pollWait == 30_000)
        #expect(config.vmDataDir == "~/.lima")
        #expect(config.maxConcurrentOperations == 3)
        #expect(config.logLevel == .info)
        #expect(config.logFile == nil)
        #expect(config.limactlPath == "limactl")
        #expect(config.limaUser == nil)
        #expect(config.templatesDir == "/etc/limahost/templates")
        #expect(config.stateDir == "/var/lib/limahost-agent")
        #expect(config.backupDir == "/var/lib/limahost-agent/backups")
        #expect(config.maxOutputBytes == 1_048_576)
        #expect(config.security.allowedControlPlaneIps.isEmpty)
        #expect(config.security.maxCommandTimeout == 300_000)
        #expect(config.security.requireCommandApproval == false)
        #expect(config.security.allowedVmTemplates == ["webapp", "api", "database", "dev"])
        #expect(config.security.allowInsecureHttp == false)
        #expect(config.security.allowedCommands.isEmpty)
        #expect(config.security.jobSigningKeys.isEmpty)
        #expect(
            config.resourceLimits
                == ResourceLimits(
                    maxVmsPerAgent: 10, maxCpuPerVm: 8, maxMemoryPerVm: 16, maxDiskPerVm: 100, maxTotalCpu: 32,
                    maxTotalMemory: 64, maxTotalDisk: 500))
    }

    @Test("config.template.json loads without problems and every value is AgentConfig's default")
    func templateLoads() throws {
        let template = try String(contentsOf: templateURL(), encoding: .utf8)
        let loader = memoryLoader([configPath: template, keyFilePath: "sk-template-0001\n"])
        let result = loader.load(configSources())

        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.path == configPath)

        // The template sets only the URL, the key file and limaUser; everything else is the default.
        var expected = AgentConfig(agentId: "host-1", agentName: "host-1")
        expected.controlPlaneUrl = "https://api.limahost.com"
        expected.controlPlaneApiKeyFile = keyFilePath
        expected.controlPlaneApiKey = Secret("sk-template-0001")
        expected.limaUser = "limahost"
        #expect(result.config == expected)

        let config = result.config
        #expect(config.heartbeatInterval == 30_000)
        #expect(config.metricsInterval == 10_000)
        #expect(config.pollWait == 30_000)
        #expect(config.vmDataDir == "~/.lima")
        #expect(config.maxConcurrentOperations == 3)
        #expect(config.logLevel == .info)
        #expect(config.logFile == nil)
        #expect(config.security == AgentConfig.Security())
        #expect(config.resourceLimits == ResourceLimits())
    }

    @Test("An empty agentId and agentName default to the hostname")
    func idAndNameDefaultToHostname() throws {
        let template = try String(contentsOf: templateURL(), encoding: .utf8)
        let result = memoryLoader([configPath: template, keyFilePath: "sk-template-0001\n"], hostname: "rack-7")
            .load(configSources())
        #expect(result.config.agentId == "rack-7")
        #expect(result.config.agentName == "rack-7")
    }

    @Test("agentId and agentName from the file win over the hostname")
    func idAndNameFromFile() {
        let file = """
            {"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": "sk-test-0001",
             "agentId": "agent-7", "agentName": "Rack 7, left"}
            """
        let result = memoryLoader([configPath: file]).load(configSources())
        #expect(result.problems.isEmpty, "\(result.problems)")
        #expect(result.config.agentId == "agent-7")
        #expect(result.config.agentName == "Rack 7, left")
    }

    @Test("A hostname outside the id rule becomes a valid agent id")
    func agentIDFromHostname() {
        #expect(ConfigLoader.agentID(fromHostname: "host-1") == "host-1")
        #expect(ConfigLoader.agentID(fromHostname: "web 01.example.com") == "web-01.example.com")
        #expect(ConfigLoader.agentID(fromHostname: "") == "limahost-agent")
        #expect(WireRules.jobIDProblem(ConfigLoader.agentID(fromHostname: "h\u{e9}te/1")) == nil)
    }

    @Test("Six mistakes give exactly six errors, each with its key path and rule")
    func sixMistakesGiveSixErrors() {
        let result = memoryLoader([configPath: sixMistakes]).load(configSources())

        #expect(result.errors.count == 6)
        #expect(result.problems.count == 6, "\(result.problems)")
        let expected = [
            "controlPlaneUrl: http:// is only allowed for loopback hosts or with security.allowInsecureHttp",
            "heartbeatInterval: must be from 1000 to 3600000 (milliseconds), got 500",
            "logLevel: must be one of trace, debug, info, notice, warning, error, critical, got \"loud\"",
            "resourceLimits.maxCpuPerVm: must be a positive integer, got \"eight\"",
            "security.allowedControlPlaneIps[0]: must be an IP address or CIDR range, got \"10.0.0.0/33\"",
            "templatesDir: must be an absolute path, got \"relative/templates\"",
        ]
        #expect(result.errors.map(\.description).sorted() == expected)
        #expect(
            Set(result.errors.map(\.keyPath)) == [
                "controlPlaneUrl", "heartbeatInterval", "logLevel", "resourceLimits.maxCpuPerVm",
                "security.allowedControlPlaneIps[0]", "templatesDir",
            ])
    }

    @Test("The API key of a broken file appears in no problem and not in the report")
    func sixMistakesNeverShowTheKey() {
        let result = memoryLoader([configPath: sixMistakes]).load(configSources())
        for problem in result.problems {
            #expect(!problem.description.contains(sixMistakesKey))
            #expect(!problem.message.contains(sixMistakesKey))
        }
        let report = EffectiveConfigReport.render(result, hostProblems: [])
        #expect(!report.contains(sixMistakesKey))
        #expect(report.contains(Secret.marker))
        #expect(report.contains("6 configuration error(s)"))
    }

    @Test("A mistyped API key is described by its JSON type, never by its value")
    func mistypedKeyIsNotEchoed() {
        let file = #"{"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": 987654321}"#
        let result = memoryLoader([configPath: file]).load(configSources())
        #expect(
            result.errors.map(\.description).contains("controlPlaneApiKey: must be a string, got a number"))
        #expect(!result.problems.contains { $0.description.contains("987654321") })
    }

    @Test("An API key with a space is refused without showing it")
    func keyWithSpaceIsRefused() {
        let file = #"{"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": "sk-two words"}"#
        let result = memoryLoader([configPath: file]).load(configSources())
        #expect(
            result.errors == [
                ConfigProblem(
                    .error, "controlPlaneApiKey", "must be printable ASCII without spaces (the value is not shown)")
            ])
    }

    @Test("An unknown key is a warning naming the nearest known key, at the top level and nested")
    func unknownKeysSuggestTheNearest() {
        let file = """
            {
              "controlPlaneUrl": "https://cp.example.com",
              "controlPlaneApiKey": "sk-test-0001",
              "heartbeatIntervall": 5000,
              "security": { "allowedComands": ["uptime"] },
              "resourceLimits": { "maxCpuPerVM": 4 }
            }
            """
        let result = memoryLoader([configPath: file]).load(configSources())

        #expect(result.errors.isEmpty, "\(result.errors)")
        #expect(result.warnings.count == 3)
        #expect(result.warnings.allSatisfy { $0.severity == .warning })
        #expect(
            Set(result.warnings.map(\.description)) == [
                #"heartbeatIntervall: unknown key, ignored (did you mean "heartbeatInterval"?)"#,
                #"security.allowedComands: unknown key, ignored (did you mean "allowedCommands"?)"#,
                #"resourceLimits.maxCpuPerVM: unknown key, ignored (did you mean "maxCpuPerVm"?)"#,
            ])
        // Ignored means ignored: the defaults stay.
        #expect(result.config.heartbeatInterval == 30_000)
        #expect(result.config.security.allowedCommands.isEmpty)
        #expect(result.config.resourceLimits.maxCpuPerVm == 8)
    }

    @Test("An unknown key far from every known key gets no suggestion")
    func unknownKeyWithoutSuggestion() {
        let file = """
            {"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": "sk-test-0001",
             "qqqqqqqqqqqqqqqqqqqqqqqq": true}
            """
        let result = memoryLoader([configPath: file]).load(configSources())
        #expect(
            result.warnings == [ConfigProblem(.warning, "qqqqqqqqqqqqqqqqqqqqqqqq", "unknown key, ignored")])
    }

    @Test("A file that is not JSON gives one error naming the file")
    func notJSON() throws {
        let environment = [
            ConfigSources.controlPlaneVariable: "https://cp.example.com", ConfigSources.apiKeyVariable: "sk-env-0002",
        ]
        let result = memoryLoader([configPath: "{ \"controlPlaneUrl\": "]).load(
            configSources(environment: environment))
        #expect(result.errors.count == 1)
        let error = try #require(result.errors.first)
        #expect(error.keyPath == configPath)
        #expect(error.message.hasPrefix("not valid JSON"))
    }

    @Test("A file holding a top-level array is an error")
    func topLevelArray() throws {
        let environment = [
            ConfigSources.controlPlaneVariable: "https://cp.example.com", ConfigSources.apiKeyVariable: "sk-env-0002",
        ]
        let result = memoryLoader([configPath: "[1, 2]"]).load(configSources(environment: environment))
        #expect(result.errors == [ConfigProblem(.error, configPath, "must hold a JSON object, got an array")])
    }

    @Test("A missing configuration file is an error naming the path and errno's reason")
    func missingFile() {
        let environment = [
            ConfigSources.controlPlaneVariable: "https://cp.example.com", ConfigSources.apiKeyVariable: "sk-env-0002",
        ]
        let result = memoryLoader([:]).load(configSources(environment: environment))
        #expect(
            result.errors == [
                ConfigProblem(
                    .error, configPath, "cannot read the configuration file: No such file or directory")
            ])
    }

    @Test("pollInterval is 0 (long poll) or up to 300000 ms")
    func pollInterval() {
        let base = #"{"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": "sk-test-0001", "#
        let good = memoryLoader([configPath: base + #""pollInterval": 3000}"#]).load(configSources())
        #expect(good.errors.isEmpty)
        #expect(good.config.pollInterval == 3000)
        let bad = memoryLoader([configPath: base + #""pollInterval": -1}"#]).load(configSources())
        #expect(bad.errors.map(\.description) == ["pollInterval: must be from 0 to 300000 (milliseconds), got -1"])
    }

    @Test("Values of the wrong JSON type name the key and what was found")
    func wrongTypes() {
        let file = """
            {"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": "sk-test-0001",
             "pollWait": 2.5, "maxConcurrentOperations": 0, "security": {"requireCommandApproval": "yes",
             "allowedVmTemplates": ["webapp", 7]}, "resourceLimits": []}
            """
        let result = memoryLoader([configPath: file]).load(configSources())
        #expect(
            Set(result.errors.map(\.description)) == [
                "pollWait: must be an integer (milliseconds), got 2.5",
                "maxConcurrentOperations: must be a positive integer, got 0",
                "security.requireCommandApproval: must be true or false, got \"yes\"",
                "security.allowedVmTemplates[1]: must be a string, got 7",
                "resourceLimits: must be an object, got an array",
            ])
    }
}
