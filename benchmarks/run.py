#!/usr/bin/env python3
"""limahost-agent benchmarks: pickup latency, throughput, HTTP requests per job,
idle footprint and an output flood, measured against the release binaries over
real HTTP on loopback, with limactl (the compiled stand-in) run as the
unprivileged user. Prints a table and writes it to docs/performance.md.

    python3 benchmarks/run.py [--quick] [--only NAME[,NAME]] [--bin DIR] [--out FILE]

Run it through `make bench`, which builds the release binaries first. Every
figure is a distribution or a ratio measured in this run; nothing is assumed.
"""
import argparse
import http.client
import json
import os
import platform
import pwd
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "bench-" + os.urandom(8).hex()
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1 << 20
# --wrap: a profiler command line the agent runs under (its figures then include the profiler).
WRAP = []


def log(message):
    print("bench: " + message, file=sys.stderr, flush=True)


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


class Fail(Exception):
    pass


def proc_stat_fields(pid):
    """/proc/PID/stat after the command name: [0] is field 3 (state), [11] and [12] utime and stime."""
    with open("/proc/%d/stat" % pid) as file:
        return file.read().rsplit(")", 1)[1].split()


def cpu_ticks():
    """(idle, total) jiffies of the whole machine, from /proc/stat: idle and iowait count as idle."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])


# ---------------------------------------------------------------- processes


class Host:
    """The unprivileged user limactl runs as, the binaries and a scratch directory."""

    def __init__(self, bin_dir, keep):
        self.bin = bin_dir
        self.keep = keep
        self.root = os.geteuid() == 0
        self.user = os.environ.get("LIMAHOST_DEV_USER", "limahost-dev") if self.root else None
        if self.user:
            try:
                entry = pwd.getpwnam(self.user)
            except KeyError:
                raise Fail("no user %s: run `make dev-user` (Lima refuses root)" % self.user)
            self.uid, self.gid, self.home = entry.pw_uid, entry.pw_gid, entry.pw_dir
        self.work = tempfile.mkdtemp(prefix="limahost-bench.")
        os.chmod(self.work, 0o755)
        self.lima = self.path("lima")
        os.makedirs(self.lima)
        self.own(self.lima)
        shutil.copytree(os.path.join(ROOT, "deploy", "templates"), self.path("templates"))
        self.limactl = self.path("limactl")
        shutil.copy(os.path.join(bin_dir, "limactl-standin"), self.limactl)
        os.chmod(self.limactl, 0o755)
        self.shim = self.path("spawnstamp")
        self.shim_main = self.path("spawnstamp-main")
        cc = shutil.which("cc") or shutil.which("clang")
        if cc is None:
            raise Fail("no C compiler (cc or clang) for benchmarks/spawnstamp.c")
        source = os.path.join(ROOT, "benchmarks", "spawnstamp.c")
        # Static when libc.a is there: the probe then starts without the dynamic loader.
        if subprocess.run([cc, "-O2", "-static", "-DSTAMP_IN_MAIN", "-o", self.shim_main, source],
                          stderr=subprocess.DEVNULL).returncode:
            subprocess.run([cc, "-O2", "-DSTAMP_IN_MAIN", "-o", self.shim_main, source], check=True)
        # The pickup probe stamps at its first instruction (no C library; x86_64), else in main.
        first = [cc, "-O2", "-static", "-nostdlib", "-ffreestanding", "-fno-builtin", "-fno-stack-protector",
                 "-fno-tree-loop-distribute-patterns", "-o", self.shim, source]
        self.shim_first = platform.machine() == "x86_64" and \
            subprocess.run(first, stderr=subprocess.DEVNULL).returncode == 0
        if not self.shim_first:
            shutil.copy(self.shim_main, self.shim)

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def own(self, path):
        if self.user:
            os.chown(path, self.uid, self.gid)

    def as_user(self, argv):
        return (["runuser", "-u", self.user, "--"] if self.user else []) + argv

    def user_env(self):
        home = self.home if self.user else os.environ.get("HOME", "/tmp")
        return ["env", "-i", "PATH=/usr/bin:/bin", "HOME=" + home, "LIMA_HOME=" + self.lima, "LANG=C.UTF-8"]

    def cleanup(self):
        # The stand-in's host agents outlive limactl, as Lima's do: delete every VM.
        for name in os.listdir(self.lima) if os.path.isdir(self.lima) else []:
            if os.path.exists(os.path.join(self.lima, name, "lima.yaml")):
                subprocess.run(self.as_user(self.user_env() + [self.limactl, "--tty=false", "delete", "-f", name]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            log("kept " + self.work)


class ControlPlane:
    """The reference control plane on loopback, and a keep-alive admin client."""

    def __init__(self, host, name, extra=()):
        self.host = host
        port_file = host.path(name + ".port")
        self.log_path = host.path(name + ".log")
        self.process = subprocess.Popen(
            [os.path.join(host.bin, "limahost-refcp"), "--port", "0", "--port-file", port_file, "--api-key", KEY,
             "--lease-ms", "300000"] + list(extra),
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise Fail("the reference control plane did not start: " + open(self.log_path).read()[-2000:])
            time.sleep(0.01)
        self.port = int(open(port_file).read().strip())
        self.url = "http://127.0.0.1:%d" % self.port
        self.connection = None

    def call(self, method, path, body=None, timeout=60):
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                self.connection.timeout = timeout
                if self.connection.sock is not None:
                    self.connection.sock.settimeout(timeout)
                data = None if body is None else json.dumps(body).encode()
                headers = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
                if response.status >= 300:
                    raise Fail("%s %s: HTTP %d %s" % (method, path, response.status, payload[:300]))
                return json.loads(payload or b"{}")
            except (http.client.HTTPException, ConnectionError, OSError):
                self.connection.close()
                self.connection = None
                if attempt == 1:
                    raise
        return None

    def enqueue(self, jobs):
        """The reply: the jobs' ids and queuedAtNs, when they joined the queue."""
        return self.call("POST", "/admin/jobs", jobs)

    def stats(self):
        return self.call("GET", "/admin/stats")

    def job(self, job_id):
        return self.call("GET", "/admin/jobs/" + job_id)

    def wait_all(self, timeout_s):
        reply = self.call("GET", "/admin/wait?jobs=false&timeoutMs=%d" % int(timeout_s * 1000),
                          timeout=timeout_s + 30)
        if not reply.get("done", False):
            raise Fail("jobs still unfinished after %d s" % timeout_s)
        return reply

    def requests(self):
        counts = self.stats()["requests"]
        return {name: counts.get(name, 0) for name in ("register", "claim", "report")}

    def wait_for_claim(self, timeout_s=30):
        """Until the agent holds a claim open: it is idle in its long poll."""
        deadline = time.monotonic() + timeout_s
        while self.stats().get("claimsWaiting", 0) < 1:
            if time.monotonic() > deadline:
                raise Fail("the agent never held a claim open")
            time.sleep(0.002)

    def cpu_seconds(self):
        """utime + stime of the control plane, from /proc/PID/stat."""
        parts = proc_stat_fields(self.process.pid)
        return (int(parts[11]) + int(parts[12])) / CLK_TCK

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)


class Agent:
    """One limahost-agent process from the release build, with its own state directory."""

    def __init__(self, host, plane, name, limactl=None, env=None, **overrides):
        self.host = host
        state = host.path(name + "-state")
        config = {
            "controlPlaneUrl": plane.url,
            "agentId": "bench-" + name,
            "agentName": "benchmark " + name,
            "vmDataDir": host.lima,
            "limactlPath": limactl or host.limactl,
            "limaUser": host.user,
            "templatesDir": host.path("templates"),
            "stateDir": state,
            "backupDir": os.path.join(state, "backups"),
            "security": {"maxCommandTimeout": 600000},
        }
        config.update(overrides)
        self.config_path = host.path(name + ".json")
        with open(self.config_path, "w") as file:
            json.dump(config, file, indent=2)
        self.log_path = host.path(name + ".log")
        environment = dict(os.environ, LIMAHOST_API_KEY=KEY)
        environment.update(env or {})
        self.process = subprocess.Popen(
            WRAP + [os.path.join(host.bin, "limahost-agent"), "--config", self.config_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log_path, "w"), env=environment,
            start_new_session=True)
        self.pid = self.process.pid
        self.cgroup = self.own_cgroup()

    def own_cgroup(self):
        """A cpuacct cgroup of the agent's own (cgroup v1, as root), or None: its
        `cpuacct.usage` counts CPU in nanoseconds, ended threads and children included,
        where /proc/PID/stat counts 10 ms ticks."""
        base = "/sys/fs/cgroup/cpuacct"
        if os.geteuid() != 0 or not os.path.isfile(os.path.join(base, "cpuacct.usage")):
            return None
        path = os.path.join(base, "limahost-bench-%d" % self.pid)
        try:
            os.mkdir(path)
            with open(os.path.join(path, "cgroup.procs"), "w") as file:
                file.write(str(self.pid))
            return path
        except OSError:
            return None

    def cpu_ns(self):
        """The cgroup's CPU in nanoseconds (the agent and the children it started), or None."""
        if self.cgroup is None:
            return None
        with open(os.path.join(self.cgroup, "cpuacct.usage")) as file:
            return int(file.read())

    def status(self):
        """VmRSS, RssAnon, RssFile, VmHWM in bytes, from /proc/PID/status."""
        fields = {}
        with open("/proc/%d/status" % self.pid) as file:
            for line in file:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                    fields[key] = int(value.split()[0]) * 1024
        return fields

    def cpu_seconds(self):
        """utime + stime: every thread of the agent, ended ones too."""
        parts = proc_stat_fields(self.pid)
        return (int(parts[11]) + int(parts[12])) / CLK_TCK

    def children_cpu_seconds(self):
        """cutime + cstime: the CPU of the children it has reaped (limactl)."""
        parts = proc_stat_fields(self.pid)
        return (int(parts[13]) + int(parts[14])) / CLK_TCK

    def threads(self):
        return len(os.listdir("/proc/%d/task" % self.pid))

    def stop(self):
        # The whole group: under --wrap the agent is the profiler's child.
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.cgroup is not None:
            try:
                os.rmdir(self.cgroup)  # empty once the agent and its children have gone
            except OSError:
                pass

    def tail(self):
        with open(self.log_path) as file:
            return file.read()[-3000:]


def run_jobs(plane, jobs, timeout_s):
    plane.enqueue(jobs)
    plane.wait_all(timeout_s)


def result_of(plane, job_id):
    view = plane.job(job_id)
    return view.get("result") or {}


def ensure_vm(host, plane, agent):
    """create_vm + start_vm `bench-vm` through the agent, so info and commands have a VM."""
    run_jobs(plane, [
        {"id": "setup-create", "type": "create_vm", "vmName": "bench-vm", "template": "webapp",
         "config": {"cpus": 1, "memory": 1, "disk": 10}},
        {"id": "setup-start", "type": "start_vm", "vmName": "bench-vm"},
    ], 120)
    for job_id in ("setup-create", "setup-start"):
        result = result_of(plane, job_id)
        if result.get("status") != "succeeded":
            raise Fail("%s: %s\n%s" % (job_id, json.dumps(result)[:500], agent.tail()))


def start_with_vm(host, name, **overrides):
    """A control plane and an agent, `bench-vm` made if missing, the agent in its long poll."""
    plane = ControlPlane(host, name + "-cp")
    agent = Agent(host, plane, name, **overrides)
    try:
        if not os.path.exists(os.path.join(host.lima, "bench-vm")):
            ensure_vm(host, plane, agent)
        plane.wait_for_claim()
    except BaseException:
        agent.stop()
        plane.stop()
        raise
    return plane, agent


# ---------------------------------------------------------------- benchmarks


def probe_startup(host, probe, count=200):
    """Milliseconds from the benchmark's posix_spawn of `probe` to its stamp, p50: the
    exec, plus whatever the probe runs before it reads the clock."""
    stamps = host.path("probe-stamps")
    env = {"LIMA_BENCH_STAMPS": stamps, "LIMA_BENCH_LIMACTL": "/bin/true", "PATH": "/usr/bin:/bin"}
    delays = []
    for _ in range(count):
        open(stamps, "w").close()
        sent = time.time_ns()
        pid = os.posix_spawn(probe, [probe, "probe"], env)
        os.waitpid(pid, 0)
        with open(stamps) as f:
            delays.append((int(f.read().split()[0]) - sent) / 1e6)
    os.unlink(stamps)
    return percentile(delays, 50)


def bench_pickup(host, args, table):
    """Enqueue → the executor starting limactl, one job at a time, for an idle agent."""
    stamps = host.path("stamps")
    open(stamps, "w").close()
    os.chmod(stamps, 0o666)
    env = {"LIMA_BENCH_STAMPS": stamps, "LIMA_BENCH_LIMACTL": host.limactl}
    figures = {}
    # Read once, line by line as they come: each job's stamp is a new line.
    stamp_lines = open(stamps)
    info = {"type": "get_vm_info", "vmName": "bench-vm"}
    # A job that changes its VM waits for its start's fsync before limactl execs; a read
    # does not (a read run twice changes nothing). `stop -f` of a stopped VM succeeds.
    stop = {"type": "stop_vm", "vmName": "bench-vm", "force": True}
    modes = (("long poll", "pickup-0", 0, args.pickup_jobs, info),
             ("long poll, stop_vm", "pickup-stop", 0, args.pickup_jobs // 2, stop),
             ("interval 3 s", "pickup-3000", 3000, args.interval_jobs, info))
    for mode, name, interval, count, job in modes:
        plane = ControlPlane(host, name + "-cp")
        agent = Agent(host, plane, name, limactl=host.shim, env=env, pollInterval=interval)
        try:
            if not os.path.exists(os.path.join(host.lima, "bench-vm")):
                ensure_vm(host, plane, agent)
            rtts = []
            latencies = []
            from_send = []
            rng = random.Random(8)
            for i in range(args.warmup + count):
                if interval:
                    # Interval polling: arrive at a random moment of the agent's cycle.
                    time.sleep(rng.uniform(0, interval / 1000))
                else:
                    plane.wait_for_claim()
                stamp_lines.readlines()  # a set-up job's stamps (ensure_vm, the restart) are not this job's
                sent = time.time_ns()
                reply = plane.enqueue(dict(job, id="%s-%d" % (name, i)))
                rtt = time.time_ns() - sent
                # The control plane's own stamp of the moment the job joined its queue.
                queued = reply["queuedAtNs"]
                plane.wait_all(60)
                lines = [line.split() for line in stamp_lines.readlines() if line.rstrip().endswith(" bench-vm")]
                if not lines:
                    raise Fail("no stamp from the limactl probe\n" + agent.tail())
                started = int(lines[0][0])  # the job's first limactl (a stop_vm runs a list after)
                if i >= args.warmup:
                    latencies.append((started - queued) / 1e6)
                    from_send.append((started - sent) / 1e6)
                    rtts.append(rtt / 1e6)
            if job is stop:
                # Running again, as ensure_vm left it, for the benchmarks after this one.
                run_jobs(plane, {"id": "pickup-restart", "type": "start_vm", "vmName": "bench-vm"}, 120)
            bad = [j for j in plane.call("GET", "/admin/jobs")["jobs"]
                   if (j.get("result") or {}).get("status") != "succeeded"]
            if bad:
                raise Fail("%d pickup jobs did not succeed: %s" % (len(bad), json.dumps(bad[0])[:400]))
            figures[mode] = latencies
            targeted = mode == "long poll"
            table.add("Pickup latency, %s: p50 / p99 over %d %s jobs" % (mode, count, job["type"]),
                      "%.2f / %.2f ms%s" % (percentile(latencies, 50), percentile(latencies, 99),
                                            " (target ≤ 3 / ≤ 10)" if targeted else ""),
                      ok=percentile(latencies, 50) <= 3 and percentile(latencies, 99) <= 10 if targeted else None)
            if targeted:
                table.add("  from the benchmark sending the enqueue request instead: p50 / p99",
                          "%.2f / %.2f ms" % (percentile(from_send, 50), percentile(from_send, 99)))
                table.add("  the enqueue request alone (loopback round trip + queueing): p50",
                          "%.2f ms" % percentile(rtts, 50))
                table.add("  pickup latency mean / max", "%.2f / %.2f ms" % (statistics.mean(latencies), max(latencies)))
                # The probe stamps at its first instruction; a static glibc's own start-up
                # (CPUID probing, slow on a VM) would come on top: shown, not counted.
                first, in_main = probe_startup(host, host.shim), probe_startup(host, host.shim_main)
                table.add("  the probe alone, spawn → stamp: at its first instruction%s / in main() after glibc"
                          % ("" if host.shim_first else " (not built here: in main)"),
                          "%.2f / %.2f ms" % (first, in_main))
        finally:
            agent.stop()
            plane.stop()
    stamp_lines.close()
    table.add("Long poll vs 3 s interval polling, mean pickup",
              "%.1f× faster" % (statistics.mean(figures["interval 3 s"]) / statistics.mean(figures["long poll"])))


def bare_spawn_run(host, count, concurrency):
    """The stand-in with nothing around it: xargs -P runs the same call `count` times.
    Returns (seconds, CPU seconds of the reaped children)."""
    argv = host.as_user(host.user_env() + ["xargs", "-P", str(concurrency), "-I{}", host.limactl, "--tty=false",
                                           "--log-format=json", "list", "--json", "bench-vm"])
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(argv, input=("x\n" * count).encode(), stdout=subprocess.DEVNULL, check=True)
    elapsed = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime


def bench_throughput(host, args, table):
    concurrency = 8
    rounds = args.throughput_rounds
    per_round = args.throughput_jobs // rounds
    n = per_round * rounds
    plane, agent = start_with_vm(host, "throughput", maxConcurrentOperations=concurrency)
    try:
        # Rounds alternate bare, agent, bare, ... bare: this machine's speed drifts by
        # 20 % within minutes, and interleaving puts both under the same drift.
        bare_rates, bare_time, bare_cpu, agent_time, agent_cpu, children_cpu = [], 0.0, 0.0, 0.0, 0.0, 0.0
        plane_cpu = 0.0
        spent = None
        idle = {"agent": [0, 0], "bare": [0, 0]}

        def count_idle(kind, before):
            after = cpu_ticks()
            idle[kind][0] += after[0] - before[0]
            idle[kind][1] += after[1] - before[1]

        bare_spawn_run(host, 100, concurrency)  # warm-up: the stand-in's pages, the VM just made
        plane.wait_for_claim()
        for r in range(rounds + 1):
            ticks = cpu_ticks()
            elapsed, cpu = bare_spawn_run(host, per_round, concurrency)
            count_idle("bare", ticks)
            bare_rates.append(per_round / elapsed)
            bare_time += elapsed
            bare_cpu += cpu
            if r == rounds:
                break
            plane.wait_for_claim()
            before = plane.requests()
            cpu0, children0, plane0 = agent.cpu_seconds(), agent.children_cpu_seconds(), plane.cpu_seconds()
            jobs = [{"id": "tp-%d-%d" % (r, i), "type": "get_vm_info", "vmName": "bench-vm"}
                    for i in range(per_round)]
            ticks = cpu_ticks()
            queued = plane.enqueue(jobs)["queuedAtNs"]
            # From the jobs joining the queue to the last result recorded: both are the
            # control plane's stamps, so the wait's own reply is not counted.
            agent_time += (plane.wait_all(900)["lastFinishedAtNs"] - queued) / 1e9
            count_idle("agent", ticks)
            agent_cpu += agent.cpu_seconds() - cpu0
            children_cpu += agent.children_cpu_seconds() - children0
            plane_cpu += plane.cpu_seconds() - plane0
            plane.wait_for_claim()
            after = plane.requests()
            spent = {k: (spent or {}).get(k, 0) + after[k] - before[k] for k in before}
        views = plane.call("GET", "/admin/jobs")["jobs"]
        failed = [v for v in views if v["id"].startswith("tp-") and (v.get("result") or {}).get("status") != "succeeded"]
        if failed:
            raise Fail("%d throughput jobs did not succeed: %s" % (len(failed), json.dumps(failed[0])[:400]))
        rate = n / agent_time
        bare = (per_round * (rounds + 1)) / bare_time
        table.add("Throughput: %d get_vm_info jobs in %d rounds, maxConcurrentOperations %d" % (n, rounds, concurrency),
                  "%.0f jobs/s" % rate)
        table.add("  bare stand-in spawn rate, xargs -P %d, %d rounds around them (min–max)" % (concurrency, rounds + 1),
                  "%.0f spawns/s (%.0f–%.0f)" % (bare, min(bare_rates), max(bare_rates)))
        table.add("  ratio to the bare rate (target ≥ 0.7)", "%.2f" % (rate / bare), ok=rate / bare >= 0.7)
        table.add("  agent CPU per job / CPU per limactl call, under the agent and bare",
                  "%.2f ms / %.2f ms, %.2f ms" % (agent_cpu * 1000 / n, children_cpu * 1000 / n,
                                                  bare_cpu * 1000 / (per_round * (rounds + 1))))
        table.add("  the reference control plane's CPU per job (on the same cores)", "%.2f ms" % (plane_cpu * 1000 / n))
        table.add("  CPU idle, all cores, during the agent's rounds / the bare rounds",
                  "%.1f %% / %.1f %%" % tuple(100.0 * idle[k][0] / max(1, idle[k][1]) for k in ("agent", "bare")))
        per_job = sum(spent.values()) / n
        table.add("HTTP requests per job under load (target ≤ 0.5)",
                  "%.3f (%d claims, %d reports)" % (per_job, spent["claim"], spent["report"]), ok=per_job <= 0.5)

        # A lone job on the idle agent: the claim it arrives on is already counted.
        lone = []
        for i in range(args.lone_jobs):
            plane.wait_for_claim()
            before = plane.requests()
            run_jobs(plane, {"id": "lone-%d" % i, "type": "get_vm_info", "vmName": "bench-vm"}, 60)
            plane.wait_for_claim()
            after = plane.requests()
            lone.append(sum(after[k] - before[k] for k in before))
        table.add("HTTP requests for a lone job, median / max over %d (target ≤ 2)" % args.lone_jobs,
                  "%d / %d" % (statistics.median(lone), max(lone)), ok=statistics.median(lone) <= 2)
    finally:
        agent.stop()
        plane.stop()


def idle_window(agent, plane, seconds, settle):
    """CPU, memory and requests of an agent left alone for `seconds`, after `settle`."""
    plane.wait_for_claim()
    time.sleep(settle)  # the first metrics sample and report go out
    before = plane.requests()
    # utime + stime of /proc/PID/stat: it counts threads that have ended too (each
    # limactl call is watched by a short-lived thread), which schedstat would miss.
    cpu0 = agent.cpu_seconds()
    children0 = agent.children_cpu_seconds()
    ns0 = agent.cpu_ns()
    samples = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        samples.append(agent.status())
        time.sleep(min(5, seconds))
    elapsed = time.monotonic() - t0
    samples.append(agent.status())
    after = plane.requests()
    ticks = agent.cpu_seconds() - cpu0
    children = agent.children_cpu_seconds() - children0
    ns1 = agent.cpu_ns()
    # The cgroup's count when there is one (its children's reaped CPU taken out), else ticks.
    precise = None if ns0 is None or ns1 is None else max(0.0, (ns1 - ns0) / 1e9 - children)
    return {
        "elapsed": elapsed, "cpu": ticks if precise is None else precise, "ticks": ticks,
        "precise": precise is not None, "children": children,
        "anon": max(s["RssAnon"] for s in samples), "rss": max(s["VmRSS"] for s in samples),
        "file": max(s["RssFile"] for s in samples), "claims": after["claim"] - before["claim"],
        "reports": after["report"] - before["report"], "threads": agent.threads(),
    }


def idle_run(host, name, seconds, settle, env=None, plane_flags=()):
    """`idle_window` of a new agent with no job and no VM running (its own empty Lima home)."""
    lima = host.path(name + "-lima")
    os.makedirs(lima)
    host.own(lima)
    overrides = dict({"vmDataDir": lima}, **json.loads(os.environ.get("BENCH_IDLE_CONFIG", "{}")))
    plane = ControlPlane(host, name + "-cp", plane_flags)
    agent = Agent(host, plane, name, env=env, **overrides)
    try:
        return idle_window(agent, plane, seconds, settle)
    finally:
        agent.stop()
        plane.stop()


def cpu_text(w):
    """An idle window's CPU, per hour, with how it was counted."""
    how = ("%.3f s in %d s, counted in ns by its cgroup; 10 ms ticks: %.2f s" % (w["cpu"], round(w["elapsed"]), w["ticks"])
           if w["precise"] else "%.2f s in %d s, 10 ms ticks" % (w["cpu"], round(w["elapsed"])))
    return "%.2f s/h (%s)" % (w["cpu"] * 3600 / w["elapsed"], how)


def bench_idle(host, args, table):
    # Idle: no job and no VM running. (With a VM running the agent samples every
    # metricsInterval, 10 s: measured apart below.)
    w = idle_run(host, "idle", args.idle_seconds, args.idle_settle)
    per_hour = w["cpu"] * 3600 / w["elapsed"]
    table.add("Idle %d s, no job, no VM running: private memory (RssAnon), max (target ≤ 8 MiB)" % round(w["elapsed"]),
              "%.1f MiB" % (w["anon"] / MiB), ok=w["anon"] <= 8 * MiB)
    table.add("  total RSS, max (RssFile: shared library pages)",
              "%.1f MiB (%.1f MiB)" % (w["rss"] / MiB, w["file"] / MiB))
    table.add("  CPU, extrapolated to an hour (target ≤ 1 s)", cpu_text(w), ok=per_hour <= 1.0)
    table.add("  CPU of its limactl children (a list when the Lima home changed), per hour",
              "%.2f s/h (%.2f s)" % (w["children"] * 3600 / w["elapsed"], w["children"]))
    table.add("  requests in the idle window (claims, reports) / threads at the end",
              "%d, %d / %d" % (w["claims"], w["reports"], w["threads"]))

    # The same agent with Dispatch as Swift's executor (LIMAHOST_EXECUTOR=dispatch): the
    # figure before the agent ran its tasks on threads of its own.
    w = idle_run(host, "idle-dispatch", args.idle_compare_seconds, args.idle_settle, env={"LIMAHOST_EXECUTOR": "dispatch"})
    table.add("Idle %d s, Dispatch as Swift's executor (LIMAHOST_EXECUTOR=dispatch, as before): CPU per hour"
              % round(w["elapsed"]), cpu_text(w))
    # A control plane that closes every connection: each long poll connects anew, the
    # case that set URLSession spinning before CCurlSockets (29.8 s of CPU in 30 s).
    w = idle_run(host, "idle-close", args.idle_compare_seconds, args.idle_settle, plane_flags=["--close-connections"])
    table.add("Idle %d s, a control plane closing every connection (each long poll on a new one): CPU per hour"
              % round(w["elapsed"]), cpu_text(w))

    plane, agent = start_with_vm(host, "idle-vm")
    try:
        w = idle_window(agent, plane, args.idle_vm_seconds, args.idle_settle)
    finally:
        agent.stop()
        plane.stop()
    table.add("Idle %d s with one VM running (metrics every 10 s): agent CPU / its limactl children, per hour"
              % round(w["elapsed"]),
              "%.2f s/h / %.2f s/h" % (w["cpu"] * 3600 / w["elapsed"], w["children"] * 3600 / w["elapsed"]))


def bench_flood(host, args, table):
    size = args.flood_mib * MiB
    flood = host.path("flood.txt")
    line = (b"".join(bytes([33 + (i * 7) % 90]) for i in range(1023)) + b"\n")
    block = line * 1024
    with open(flood, "wb") as file:
        for _ in range(size // len(block)):
            file.write(block)
    os.chmod(flood, 0o644)
    cap = 1048576
    plane, agent = start_with_vm(host, "flood", maxOutputBytes=cap)
    try:
        peak = {"VmRSS": 0, "RssAnon": 0}
        done = threading.Event()

        def watch():
            while not done.is_set():
                try:
                    status = agent.status()
                except FileNotFoundError:
                    return
                for key in peak:
                    peak[key] = max(peak[key], status[key])
                done.wait(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        cpu0 = agent.cpu_seconds()
        t0 = time.monotonic()
        run_jobs(plane, {"id": "flood", "type": "execute_command", "vmName": "bench-vm",
                         "command": "cat " + flood, "timeout": 600000}, 900)
        wall = time.monotonic() - t0
        cpu = agent.cpu_seconds() - cpu0
        done.set()
        watcher.join()
        hwm = agent.status()["VmHWM"]
        result = result_of(plane, "flood")
        stdout = (result.get("stdout") or "").encode()
        live = sum(len(c.get("text", "").encode()) for c in plane.call("GET", "/admin/logs?jobId=flood")["logs"]
                   if c.get("stream") == "stdout")
        capped = result.get("outputTruncated") is True and len(stdout) <= cap and stdout == open(flood, "rb").read(
            len(stdout))
        t1 = time.monotonic()
        subprocess.run(["sh", "-c", "cat '%s' | cat >/dev/null" % flood], check=True)
        cat_pipe = time.monotonic() - t1
        peak_rss = max(peak["VmRSS"], hwm)
        table.add("Output flood %d MiB: agent peak RSS (VmHWM, target ≤ 64 MiB)" % args.flood_mib,
                  "%.1f MiB (RssAnon peak %.1f MiB)" % (peak_rss / MiB, peak["RssAnon"] / MiB), ok=peak_rss <= 64 * MiB)
        table.add("  output capped at maxOutputBytes %d" % cap,
                  "%s: stdout %d bytes, live output %d bytes, status %s" % (
                      "yes" if capped else "NO", len(stdout), live, result.get("status")), ok=capped)
        table.add("  job duration / enqueue→finished / cat of the file into a pipe",
                  "%.2f s / %.2f s / %.2f s" % (result.get("duration", 0) / 1000, wall, cat_pipe))
        table.add("  agent CPU for the flood", "%.2f s (%.0f MiB/s drained)" % (cpu, args.flood_mib / wall))
    finally:
        agent.stop()
        plane.stop()
        os.unlink(flood)


# ---------------------------------------------------------------- report


class Table:
    def __init__(self):
        self.rows = []

    def add(self, what, value, ok=None):
        self.rows.append((what, value, "" if ok is None else ("met" if ok else "MISSED")))
        log("%s: %s %s" % (what.strip(), value, self.rows[-1][2]))

    def render(self):
        widths = [max(len(r[i]) for r in self.rows + [("Figure", "Value", "Target")]) for i in range(3)]
        lines = ["| %s | %s | %s |" % ("Figure".ljust(widths[0]), "Value".ljust(widths[1]), "Target".ljust(widths[2])),
                 "|%s|%s|%s|" % ("-" * (widths[0] + 2), "-" * (widths[1] + 2), "-" * (widths[2] + 2))]
        for row in self.rows:
            lines.append("| %s | %s | %s |" % tuple(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        return "\n".join(lines)


def machine(bin_dir):
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    agent = os.path.join(bin_dir, "limahost-agent")
    linked = subprocess.run(["ldd", agent], capture_output=True, text=True).stdout
    runtime = "dynamic Swift runtime" if "libswiftCore.so" in linked else "static Swift runtime"
    return ("%s, %d cores, kernel %s; %s; agent binary %.1f MiB, %s" % (
        platform.node() or "host", os.cpu_count(), platform.release(), swift[0] if swift else "swift ?",
        os.path.getsize(agent) / MiB, runtime))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs to check the suite itself")
    parser.add_argument("--only", default="pickup,throughput,idle,flood")
    parser.add_argument("--bin", help="directory with the release binaries (default: swift build -c release)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "performance.md"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--wrap", default="", help="run each agent under this command, e.g. 'strace -f -tt -o F'")
    args = parser.parse_args()
    WRAP.extend(args.wrap.split())
    quick = args.quick
    args.warmup = 5 if quick else 20
    args.pickup_jobs = 50 if quick else 200
    args.interval_jobs = int(os.environ.get("BENCH_INTERVAL_JOBS", 5 if quick else 60))
    args.throughput_jobs = 300 if quick else 2000
    args.throughput_rounds = 2 if quick else 4
    args.lone_jobs = 5 if quick else 20
    args.idle_seconds = int(os.environ.get("BENCH_IDLE_SECONDS", 30 if quick else 300))
    args.idle_settle = 5 if quick else 15
    args.idle_vm_seconds = 30 if quick else 120
    args.idle_compare_seconds = 30 if quick else 120
    args.flood_mib = 128 if quick else 1024
    bin_dir = args.bin or subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                                         capture_output=True, text=True, check=True).stdout.strip()
    for name in ("limahost-agent", "limahost-refcp", "limactl-standin"):
        if not os.access(os.path.join(bin_dir, name), os.X_OK):
            raise Fail("%s/%s is missing: run `make bench` (it builds the release binaries)" % (bin_dir, name))
    host = Host(bin_dir, args.keep)
    table = Table()
    started = time.time()
    benches = {"pickup": bench_pickup, "throughput": bench_throughput, "idle": bench_idle, "flood": bench_flood}
    try:
        for name in args.only.split(","):
            log("running " + name)
            benches[name](host, args, table)
    finally:
        host.cleanup()
    text = table.render()
    print(text)
    header = ("Measured %s in %.0f s on %s.%s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), time.time() - started, machine(bin_dir),
        " Quick run (--quick): smaller samples." if quick else ""))
    if args.out and not quick and args.only == parser.get_default("only"):
        write_report(args.out, header, text)
        log("wrote " + args.out)
    else:
        print(header)


def write_report(path, header, table):
    """Replaces the generated block of docs/performance.md and keeps the prose around it."""
    begin, end = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"
    block = "%s\n%s\n\n%s\n%s" % (begin, header, table, end)
    text = open(path).read() if os.path.exists(path) else "# Performance\n\n%s\n" % block
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        file.write(text)


if __name__ == "__main__":
    try:
        main()
    except Fail as error:
        log("failed: %s" % error)
        sys.exit(1)
