import Foundation
import Testing

@testable import Models

/// The instant `text` names; throws when it does not parse.
private func parsed(_ text: String) throws -> Date {
    guard let date = RFC3339.parse(text) else { throw FixtureError("\(text) did not parse") }
    return date
}

/// Whether two dates are within a microsecond: fractional seconds go through binary floating point.
private func nearly(_ date: Date, _ secondsSince1970: TimeInterval) -> Bool {
    abs(date.timeIntervalSince1970 - secondsSince1970) < 0.000_001
}

@Suite("RFC 3339 times")
struct RFC3339Tests {
    @Test("A UTC time without a fraction parses to its instant")
    func parseWholeSecond() throws {
        #expect(try parsed("2026-11-27T08:00:30Z") == leaseTime)
    }

    @Test("A UTC time with a fraction parses to its instant")
    func parseFraction() throws {
        let date = try parsed("2026-11-27T08:00:30.120Z")
        #expect(nearly(date, 1_795_766_430.12))
    }

    @Test("Fractions of any length parse")
    func parseFractionLengths() throws {
        #expect(nearly(try parsed("2026-11-27T08:00:30.5Z"), 1_795_766_430.5))
        #expect(nearly(try parsed("2026-11-27T08:00:30.123456Z"), 1_795_766_430.123456))
    }

    @Test(
        "A time with an offset is the same instant as its UTC form",
        arguments: [
            "2026-11-27T17:00:30+09:00", "2026-11-27T03:30:30-04:30", "2026-11-26T23:00:30-09:00",
            "2026-11-27T08:00:30+00:00", "2026-11-27T08:00:30-00:00",
        ])
    func parseOffset(_ text: String) throws {
        #expect(try parsed(text) == leaseTime)
    }

    @Test("Lower-case t and z are accepted")
    func parseLowerCase() throws {
        #expect(try parsed("2026-11-27t08:00:30z") == leaseTime)
        #expect(nearly(try parsed("2026-11-27t08:00:30.250z"), 1_795_766_430.25))
    }

    @Test("Times before 1970 parse")
    func parseBefore1970() throws {
        #expect(try parsed("1969-07-20T20:17:40Z") == utc(-14_182_940))
        #expect(try parsed("1900-01-01T00:00:00Z") == utc(-2_208_988_800))
    }

    @Test("Leap day 2024-02-29 parses")
    func parseLeapDay() throws {
        #expect(try parsed("2024-02-29T12:00:00Z") == utc(1_709_208_000))
    }

    @Test(
        "Text that is not an RFC 3339 time is refused",
        arguments: [
            "2026-13-01T00:00:00Z",  // month 13
            "2026-00-10T00:00:00Z",  // month 0
            "2026-02-30T00:00:00Z",  // no February 30
            "2025-02-29T00:00:00Z",  // 2025 is not a leap year
            "1900-02-29T00:00:00Z",  // nor is 1900
            "2026-11-27T24:00:00Z",  // hour 24
            "2026-11-27T08:60:00Z",  // minute 60
            "2026-11-27T08:00:30",  // no zone
            "2026-11-27T08:00:30Zjunk",  // trailing junk
            "2026-11-27T08:00:30Z ",  // trailing space
            "2026-11-27T08:00:30.Z",  // a point without digits
            "2026-11-27T08:00:30+0900",  // offset without a colon
            "2026-11-27T08:00:30+09",  // offset without minutes
            "2026-11-27",  // a date alone
            "26-11-27T08:00:30Z",  // two-digit year
            "2026/11/27T08:00:30Z",  // wrong separators
            "tomorrow",
            "",
        ])
    func rejectsGarbage(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("A whole second is formatted without a fraction")
    func formatWholeSecond() {
        #expect(RFC3339.format(leaseTime) == "2026-11-27T08:00:30Z")
    }

    @Test("A time with 120 ms is formatted with .120")
    func formatMilliseconds() {
        #expect(RFC3339.format(utc(1_795_766_430.12)) == "2026-11-27T08:00:30.120Z")
    }

    @Test("A short fraction is written back with three digits")
    func formatShortFraction() throws {
        #expect(RFC3339.format(try parsed("2026-11-27T08:00:30.12Z")) == "2026-11-27T08:00:30.120Z")
        #expect(RFC3339.format(try parsed("2026-11-27T08:00:30.5Z")) == "2026-11-27T08:00:30.500Z")
    }

    @Test("A time with an offset is formatted in UTC")
    func formatInUTC() throws {
        #expect(RFC3339.format(try parsed("2026-11-27T17:00:30+09:00")) == "2026-11-27T08:00:30Z")
    }

    @Test("Times before 1970 are formatted")
    func formatBefore1970() {
        #expect(RFC3339.format(utc(-14_182_940)) == "1969-07-20T20:17:40Z")
        #expect(RFC3339.format(utc(-0.5)) == "1969-12-31T23:59:59.500Z")
        #expect(RFC3339.format(utc(-2_208_988_800)) == "1900-01-01T00:00:00Z")
    }

    @Test(
        "A time is written back exactly as it was read",
        arguments: [
            "2026-11-27T08:00:30Z", "2026-11-27T08:00:30.120Z", "2026-11-27T08:00:30.001Z", "2026-11-27T08:00:30.999Z",
            "2024-02-29T00:00:00Z", "2024-02-29T23:59:59.999Z", "2024-03-01T00:00:00Z", "2000-02-29T12:00:00Z",
            "2100-03-01T00:00:00Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "1969-12-31T23:59:59.500Z",
            "1969-07-20T20:17:40Z", "1969-07-20T20:17:40.250Z", "1900-01-01T00:00:00Z", "0001-01-01T00:00:00Z",
            "2038-01-19T03:14:08Z", "9999-12-31T23:59:59Z",
        ])
    func roundTrips(_ text: String) throws {
        #expect(RFC3339.format(try parsed(text)) == text)
    }

    @Test(
        "Any millisecond is written back exactly as it was read, whatever the year",
        arguments: [
            "1970-01-01T00:00:00.002Z", "1969-07-20T20:17:40.002Z", "1999-12-31T23:59:59.010Z",
            "2038-01-19T03:14:08.002Z", "2026-11-27T08:00:30.042Z",
        ])
    func millisecondsRoundTrip(_ text: String) throws {
        #expect(RFC3339.format(try parsed(text)) == text)
    }

    @Test("Whole seconds from 1950 to 2100 format as Foundation's Gregorian calendar says, and parse back")
    func calendarSweep() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(secondsFromGMT: 0))
        // From 1950-01-01 in steps of 37 days, 5 hours, 2 minutes and 47 seconds: every month, leap days
        // and times of day are hit over about 150 years.
        let step = 37 * 86_400 + 5 * 3_600 + 2 * 60 + 47
        for index in 0..<1_480 {
            let date = utc(TimeInterval(-631_152_000 + index * step))
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let expected = String(
                format: "%04ld-%02ld-%02ldT%02ld:%02ld:%02ldZ", parts.year ?? -1, parts.month ?? -1, parts.day ?? -1,
                parts.hour ?? -1, parts.minute ?? -1, parts.second ?? -1)
            #expect(RFC3339.format(date) == expected)
            #expect(RFC3339.parse(expected) == date)
        }
    }
}
