// limactl stand-in (Lima v2.2.0 CLI contract, see shared/limactl-reference.md).
// Entry point only: everything happens in `CLI`.
import Glibc

exit(CLI.main(Array(CommandLine.arguments.dropFirst())))
