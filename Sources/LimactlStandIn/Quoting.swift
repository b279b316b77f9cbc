import Foundation

/// The quoting rules whose output the agent sees: Go's `%q` and `%#q`, logrus text values,
/// JSON strings (Go encoding/json) and `shellescape.Quote`.
enum Quoting {
    /// Go `strconv.Quote` (`%q`).
    static func goQuote(_ s: String) -> String {
        quoted(s) { $0.value < 0x20 || $0.value == 0x7f ? String(format: "\\x%02x", $0.value) : nil }
    }

    /// A double-quoted string with the escapes Go's `%q` and encoding/json share;
    /// `escapeOther` says how each of them escapes the rest (nil: as is).
    private static func quoted(_ s: String, escapeOther: (Unicode.Scalar) -> String?) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if let escape = escapeOther(u) { out += escape } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// Go `%#q`: backquoted when `strconv.CanBackquote`, else `%q`.
    static func backquote(_ s: String) -> String {
        let plain = s.unicodeScalars.allSatisfy {
            $0 == "\t" || ($0.value >= 0x20 && $0.value != 0x7f && $0 != "`" && $0.value != 0xfeff)
        }
        return plain ? "`\(s)`" : goQuote(s)
    }

    /// A logrus TextFormatter value: `%q` when any character is outside `[A-Za-z0-9-._/@^+]`.
    static func logfmt(_ s: String) -> String {
        let bare = s.unicodeScalars.allSatisfy {
            ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || "-._/@^+".unicodeScalars.contains($0)
        }
        return bare ? s : goQuote(s)
    }

    /// A JSON string as Go's encoding/json writes it (`html` also escapes `<`, `>` and `&`).
    static func json(_ s: String, html: Bool = true) -> String {
        quoted(s) { u in
            let escape = String(format: "\\u%04x", u.value)
            switch u {
            case "<", ">", "&": return html ? escape : nil
            case "\u{2028}", "\u{2029}": return escape
            default: return u.value < 0x20 ? escape : nil
            }
        }
    }

    /// `shellescape.Quote` (al.essio.dev/pkg/shellescape v1.6.0).
    static func shell(_ s: String) -> String {
        if s.isEmpty { return "''" }
        let safe = s.unicodeScalars.allSatisfy {
            ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || "_@%+=:,./-".unicodeScalars.contains($0)
        }
        return safe ? s : "'" + s.replacingOccurrences(of: "'", with: "'\"'\"'") + "'"
    }
}

extension String {
    /// Go `%#q`, as Lima v2.1.2+ quotes names in messages.
    var bq: String { Quoting.backquote(self) }
}
