#!/usr/bin/env python3
"""Renders limahost-agent(8) from the argument parser's own description.

Usage: limahost-agent --experimental-dump-help | scripts/manpage.py > limahost-agent.8

The options, subcommands and their help come from the binary (swift-argument-parser),
so the page cannot drift from the command; the sections around them are written here.
"""
import datetime
import json
import sys


def roff(text):
    """Escapes text for roff: backslashes, and a leading dot or quote."""
    text = (text or "").replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def synopsis_name(argument):
    name = argument.get("preferredName") or (argument.get("names") or [{}])[0]
    kind, value = name.get("kind"), name.get("name", argument.get("valueName", ""))
    if kind == "long":
        return "--" + value
    if kind in ("short", "longWithSingleDash"):
        return "-" + value
    return value


def options(arguments):
    out = []
    for argument in arguments:
        if not argument.get("shouldDisplay", True):
            continue
        names = ", ".join(
            ("--" if n["kind"] == "long" else "-") + n["name"] for n in argument.get("names", [])
        ) or argument.get("valueName", "")
        if argument.get("kind") == "option":
            names += " " + argument.get("valueName", "value")
        elif argument.get("kind") == "positional":
            names = argument.get("valueName", "value").upper()
        out.append(".TP\n\\fB" + roff(names) + "\\fR\n" + roff(argument.get("abstract", "")))
    return "\n".join(out)


def main():
    command = json.load(sys.stdin)["command"]
    name = command["commandName"]
    date = datetime.date.today().isoformat()
    page = [
        '.TH %s 8 "%s" "limahost-agent" "System Administration"' % (name.upper(), date),
        ".SH NAME",
        "%s \\- %s" % (name, roff(command.get("abstract", ""))),
        ".SH SYNOPSIS",
        "\\fB%s\\fR %s" % (name, " ".join("[" + roff(synopsis_name(a)) + "]" for a in command["arguments"]
                                          if a.get("shouldDisplay", True))),
        ".br",
        "\\fB%s approvals\\fR list|approve ID|deny ID [\\-\\-config path]" % name,
        ".SH DESCRIPTION",
        roff(command.get("discussion", "")),
        ".PP",
        "It pulls jobs from the LimaHost control plane over HTTPS (a long poll), runs each with "
        "limactl under a deadline, and reports results, heartbeats, logs and metrics in batches. "
        "Its journal and outbox live in SQLite under stateDir, so no result is lost to a crash or "
        "an outage. Under systemd it runs as deploy/limahost-agent.service (Type=notify).",
        ".SH OPTIONS",
        options(command["arguments"]),
    ]
    for sub in command.get("subcommands", []):
        if sub.get("commandName") == "help":
            continue
        page += [".SH COMMAND: %s" % roff(sub["commandName"].upper()), roff(sub.get("abstract", ""))]
        if sub.get("discussion"):
            page += [".PP", roff(sub["discussion"])]
        for leaf in sub.get("subcommands", []):
            if leaf.get("commandName") == "help":
                continue
            page += [".TP", "\\fB%s %s\\fR" % (roff(sub["commandName"]), roff(leaf["commandName"])),
                     roff(leaf.get("abstract", ""))]
    page += [
        ".SH SIGNALS",
        ".TP\n\\fBSIGTERM\\fR, \\fBSIGINT\\fR\nThe first drains: no new jobs, running jobs finish "
        "(at most drainTimeout), results are flushed. A second one cancels the running jobs.",
        ".TP\n\\fBSIGHUP\\fR\nReopens logFile (after logrotate).",
        ".SH FILES",
        ".TP\n/etc/limahost/agent.json\nThe configuration (see config.template.json).",
        ".TP\n/etc/limahost/api-key\nThe API key (controlPlaneApiKeyFile), mode 0640 root:limahost.",
        ".TP\n/var/lib/limahost-agent/agent.sqlite\nThe journal and outbox (stateDir).",
        ".SH EXIT STATUS",
        "0 ok; 1 some job did not succeed (\\-\\-drain); 2 usage or configuration error; "
        "3 the control plane could not be reached or refused the key (\\-\\-drain).",
        ".SH SEE ALSO",
        "limactl(1), systemd.service(5), logrotate(8)",
    ]
    sys.stdout.write("\n".join(page) + "\n")


if __name__ == "__main__":
    main()
