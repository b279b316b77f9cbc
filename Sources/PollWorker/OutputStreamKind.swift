/// Which output of a subprocess a piece of text came from.
public enum OutputStreamKind: String, Sendable {
    case stdout, stderr
}
