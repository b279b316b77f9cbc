/// The host's load average from `/proc/loadavg`.
public enum LoadAverage {
    /// The one-minute load average: the first field of `0.52 0.58 0.59 2/1234 56789`. nil when
    /// it is missing or not a finite, non-negative number.
    public static func parse(loadavg: String) -> Double? {
        guard let first = loadavg.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first,
            let value = Double(first), value.isFinite, value >= 0
        else { return nil }
        return value
    }
}
