import Foundation
import Logging
import Models
import Testing

@testable import PollWorker

private let apiKey = "sk-live-123456"

private struct KeyError: Error, CustomStringConvertible {
    var description: String { "the server rejected \(apiKey)" }
}

/// A sink writing to `lines` instead of stderr, redacting the API key.
private func makeSink(journald: Bool, lines: Collected<String>) -> LogSink {
    let sink = LogSink(logFile: nil, journald: journald, writeStderr: { lines.append($0) })
    sink.redact(apiKey)
    return sink
}

private func makeLogger(_ sink: LogSink, level: Logger.Level) -> Logger {
    Logger(
        label: "test",
        factory: { label in AgentLogHandler(label: label, level: level, sink: sink, now: { fixedNow }) })
}

@Suite("Secret")
struct SecretTests {
    @Test("description, interpolation, String(reflecting:) and dump never show the value")
    func neverPrinted() {
        let secret = Secret(apiKey)
        #expect(secret.description == "[REDACTED]")
        #expect("\(secret)" == "[REDACTED]")
        #expect(String(describing: secret) == "[REDACTED]")
        #expect(String(reflecting: secret) == "[REDACTED]")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains(apiKey))
        #expect(secret.exposedValue == apiKey)
    }

    @Test("A configuration printed whole does not show its key")
    func configPrintedWhole() {
        var config = AgentConfig(agentId: "host-1", agentName: "host-1")
        config.controlPlaneApiKey = Secret(apiKey)
        #expect(!String(describing: config).contains(apiKey))
        #expect(!String(reflecting: config).contains(apiKey))
        #expect(!"\(config)".contains(apiKey))
    }
}

@Suite("CommandLineRedaction")
struct CommandLineRedactionTests {
    @Test("--api-key X and --api-key=X values are removed from a message")
    func removesBothForms() {
        let arguments = ["--api-key", "sk-abc-123", "--api-key=sk-def-456", "--frobnicate"]
        let message = "Error: Unknown option '--frobnicate'. Usage: --api-key sk-abc-123 --api-key=sk-def-456"
        let redacted = CommandLineRedaction.redact(message, arguments: arguments)
        #expect(!redacted.contains("sk-abc-123"))
        #expect(!redacted.contains("sk-def-456"))
        #expect(
            redacted == "Error: Unknown option '--frobnicate'. Usage: --api-key [REDACTED] --api-key=[REDACTED]")
    }

    @Test("A message without a key is left alone, and a trailing --api-key without a value is harmless")
    func leavesOtherMessagesAlone() {
        let message = "Error: Missing value for '--api-key <api-key>'"
        #expect(CommandLineRedaction.redact(message, arguments: ["--api-key"]) == message)
        #expect(CommandLineRedaction.redact(message, arguments: ["--api-key="]) == message)
    }
}

@Suite("LogSink and AgentLogHandler")
struct LoggingTests {
    @Test("No line at any level shows a redacted key, in message, metadata or error")
    func keyNeverLogged() {
        let lines = Collected<String>()
        let logger = makeLogger(makeSink(journald: false, lines: lines), level: .trace)
        for level in Logger.Level.allCases {
            logger.log(
                level: level, "using key \(apiKey)\nsecond line",
                metadata: ["apiKey": .string(apiKey), "header": .string("Bearer \(apiKey)")])
        }
        logger.error("request failed", error: KeyError())

        let written = lines.all
        #expect(written.count == Logger.Level.allCases.count + 1)
        for line in written {
            #expect(!line.contains(apiKey), "\(line)")
            #expect(line.contains(Secret.marker))
        }
    }

    @Test("Each event is exactly one line, embedded newlines escaped")
    func oneLinePerEvent() {
        let lines = Collected<String>()
        let logger = makeLogger(makeSink(journald: false, lines: lines), level: .info)
        logger.info("first\nsecond", metadata: ["output": "a\nb"])
        logger.warning("third")

        let written = lines.all
        #expect(written.count == 2)
        for line in written {
            #expect(line.hasSuffix("\n"))
            #expect(line.filter { $0 == "\n" }.count == 1, "\(line)")
        }
        #expect(written.first == "2026-11-27T08:00:30Z info first\\nsecond output=a\\nb\n")
    }

    @Test("Plain lines carry the time, the level, the message and sorted, quoted metadata")
    func plainFormat() {
        let lines = Collected<String>()
        let logger = makeLogger(makeSink(journald: false, lines: lines), level: .info)
        logger.notice("job finished", metadata: ["vm": "my app", "job": "job-41", "empty": ""])
        #expect(lines.all == ["2026-11-27T08:00:30Z notice job finished empty=\"\" job=job-41 vm=\"my app\"\n"])
    }

    @Test("Under journald lines carry <6> for info and <3> for error, without a time")
    func journaldPrefixes() {
        let lines = Collected<String>()
        let logger = makeLogger(makeSink(journald: true, lines: lines), level: .info)
        logger.info("agent started", metadata: ["agentId": "host-1"])
        logger.error("report failed")
        logger.critical("giving up")

        #expect(lines.all == ["<6>agent started agentId=host-1\n", "<3>report failed\n", "<2>giving up\n"])
    }

    @Test("Events below the handler's level are not written")
    func levelFiltering() {
        let lines = Collected<String>()
        let logger = makeLogger(makeSink(journald: false, lines: lines), level: .info)
        logger.trace("trace event")
        logger.debug("debug event")
        logger.info("info event")
        logger.error("error event")

        let written = lines.all
        #expect(written.count == 2)
        #expect(!written.contains { $0.contains("debug event") || $0.contains("trace event") })
        #expect(written.first?.contains("info event") == true)
    }

    @Test("The sink replaces every registered secret, and ignores ones too short to redact safely")
    func sinkRedacted() {
        let sink = LogSink(logFile: nil, journald: false, writeStderr: { _ in })
        sink.redact(apiKey)
        sink.redact("abc")
        #expect(sink.redacted("key=\(apiKey) again \(apiKey)") == "key=[REDACTED] again [REDACTED]")
        #expect(sink.redacted("abc") == "abc")
    }

    @Test("Metadata set on the logger is merged with the event's, the event's winning")
    func metadataMerge() {
        let lines = Collected<String>()
        var logger = makeLogger(makeSink(journald: true, lines: lines), level: .info)
        logger[metadataKey: "component"] = "poller"
        logger[metadataKey: "job"] = "job-1"
        logger.info("claimed", metadata: ["job": "job-2"])
        #expect(lines.all == ["<6>claimed component=poller job=job-2\n"])
    }
}
