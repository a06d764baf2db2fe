#!/usr/bin/env python3
"""Policy checks on rendered Kubernetes manifests (output of `kustomize build`).

Schema validity is kubernetes-validate's job; this checks what a schema cannot:

  every workload (StatefulSet, Deployment, CronJob, Job, Pod)
    - non-root, read-only root filesystem, no privilege escalation, capabilities
      drop ALL, seccomp RuntimeDefault (the "restricted" Pod Security Standard)
    - cpu and memory requests and limits on every container, requests <= limits
    - no service-account token mounted
  the gateway (when the stream has one, or --gateway): exactly one of
    StatefulSet/switchyard (SQLite)
      - one replica, a ReadWriteOnce volume claim mounted at the database directory,
        database.path on it, no DATABASE_URL; the headless Service of serviceName
    Deployment/switchyard (PostgreSQL, overlays/ha*)
      - replicas >= 2, RollingUpdate with maxUnavailable 0 and maxSurge >= 1
      - DATABASE_URL from a required Secret key, no database.url or database.path in
        the ConfigMap, no volume claim or SQLite volume at all
      - master key from a required Secret key (every replica must share it)
      - pod anti-affinity across nodes and topology spread, selecting the pods
      - a PodDisruptionBudget keeping at least one pod and allowing one eviction
    and for both
    - native gRPC startup, liveness and readiness probes on the gRPC port; readiness
      on switchyard.v1.SwitchyardService
    - terminationGracePeriodSeconds above the config's shutdown_grace
    - its ConfigMap is in the stream and agrees with the pod (ports, paths, the key
      variables its providers declare)
    - Services, PodDisruptionBudget and NetworkPolicy select the pod
    - with a CloudNativePG Cluster in the stream: 3 instances or more, and
      DATABASE_URL from its <cluster>-app Secret, key uri
  every Deployment, DaemonSet or ReplicaSet: no SQLite volume (the StatefulSet's
    data-switchyard-N claims, switchyard-backups, or any claim at the data directory):
    SQLite allows one writer, and a Deployment's pods are many
    - no TLS listener in the config (native gRPC probes are plaintext); the master
      key from a Secret (--fail-closed: master key and agent token hashes required)
  --pinned-images: every image has an explicit tag (not "latest") or a digest
  --dockerfile FILE: the runtime stage's USER and EXPOSE agree with the pod

Prints one line per check; exits 1 if any failed. Standard library + PyYAML.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import PurePosixPath
from typing import Any

import yaml

GATEWAY = "switchyard"
GATEWAY_KINDS = ("StatefulSet", "Deployment")
DATA_DIR = "/var/lib/switchyard"
SQLITE_CLAIM = re.compile(r"^(data-switchyard(-[0-9]+)?|switchyard-backups)$")
CNPG = "postgresql.cnpg.io/v1"
API_SERVICE = "switchyard.v1.SwitchyardService"
WORKLOAD_KINDS = {"StatefulSet", "Deployment", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}


class Report:
    def __init__(self, label: str) -> None:
        self.label = label
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"  ok    {self.label}: {what}")
        else:
            self.failed += 1
            print(f"  FAIL  {self.label}: {what}" + (f" ({detail})" if detail else ""))
        return ok


def dig(obj: Any, *path: Any, default: Any = None) -> Any:
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and isinstance(key, int) and 0 <= key < len(obj):
            obj = obj[key]
        else:
            return default
    return obj


_SUFFIX = {
    "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}


def quantity(value: Any) -> float:
    """A Kubernetes resource quantity as a number ("250m" -> 0.25, "1Gi" -> 2**30)."""
    m = re.fullmatch(r"([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", str(value))
    if not m:
        raise ValueError(f"unsupported quantity {value!r}")
    return float(m.group(1)) * _SUFFIX[m.group(2) or ""]


def duration_seconds(value: Any) -> float:
    """A humantime duration of the config ("30s", "1m 30s", "500ms") in seconds."""
    units = {"ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"([0-9.]+)\s*([a-z]+)", str(value))
    if not parts or "".join(n + u for n, u in parts) != re.sub(r"\s+", "", str(value)):
        raise ValueError(f"unsupported duration {value!r}")
    return sum(float(n) * units[u] for n, u in parts)


def selects(selector: dict | None, labels: dict) -> bool:
    """matchLabels-only selector semantics (what these manifests use)."""
    if not selector:
        return False
    match = selector.get("matchLabels", selector)
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def pod_template(doc: dict) -> dict | None:
    kind = doc.get("kind")
    if kind == "Pod":
        return doc
    if kind == "CronJob":
        return dig(doc, "spec", "jobTemplate", "spec", "template")
    return dig(doc, "spec", "template")


def containers_of(pod_spec: dict) -> list[dict]:
    return list(pod_spec.get("initContainers") or []) + list(pod_spec.get("containers") or [])


def check_workload(r: Report, doc: dict) -> None:
    name = f"{doc['kind']}/{doc['metadata']['name']}"
    spec = dig(pod_template(doc), "spec") or {}
    psc = spec.get("securityContext") or {}
    r.check(spec.get("automountServiceAccountToken") is False,
            f"{name}: automountServiceAccountToken false")
    r.check(dig(psc, "seccompProfile", "type") == "RuntimeDefault",
            f"{name}: pod seccompProfile RuntimeDefault")
    for c in containers_of(spec):
        cname = f"{name}[{c['name']}]"
        csc = c.get("securityContext") or {}
        run_as_non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        r.check(run_as_non_root is True and isinstance(uid, int) and uid > 0,
                f"{cname}: runAsNonRoot with a numeric non-zero runAsUser",
                f"runAsNonRoot={run_as_non_root}, runAsUser={uid}")
        r.check(csc.get("readOnlyRootFilesystem") is True, f"{cname}: readOnlyRootFilesystem")
        r.check(csc.get("allowPrivilegeEscalation") is False,
                f"{cname}: allowPrivilegeEscalation false")
        r.check(csc.get("privileged") in (None, False), f"{cname}: not privileged")
        drop = dig(csc, "capabilities", "drop", default=[]) or []
        add = dig(csc, "capabilities", "add", default=[]) or []
        r.check("ALL" in drop and not add, f"{cname}: capabilities drop ALL, add none",
                f"drop={drop}, add={add}")
        seccomp = dig(csc, "seccompProfile", "type", default=dig(psc, "seccompProfile", "type"))
        r.check(seccomp == "RuntimeDefault", f"{cname}: seccompProfile RuntimeDefault")
        res = c.get("resources") or {}
        for resource in ("cpu", "memory"):
            req = dig(res, "requests", resource)
            lim = dig(res, "limits", resource)
            ok = req is not None and lim is not None
            detail = f"requests={req}, limits={lim}"
            if ok:
                try:
                    ok = quantity(req) <= quantity(lim)
                except ValueError as e:
                    ok, detail = False, str(e)
            r.check(ok, f"{cname}: {resource} request and limit, request <= limit", detail)
    if doc["kind"] in ("Deployment", "DaemonSet", "ReplicaSet"):
        sqlite = sqlite_volumes(spec)
        r.check(not sqlite, f"{name}: mounts no SQLite volume (one writer; these pods are many)",
                ", ".join(sqlite))


def sqlite_volumes(pod_spec: dict) -> list[str]:
    """Volumes of a pod that hold (or may hold) the SQLite store: a claim named like the
    StatefulSet's or the backups', or any claim or ephemeral volume mounted at the data
    directory."""
    claims = {v["name"]: v for v in pod_spec.get("volumes") or []
              if "persistentVolumeClaim" in v or "ephemeral" in v}
    found = {n for n, v in claims.items()
             if SQLITE_CLAIM.match(dig(v, "persistentVolumeClaim", "claimName", default=""))}
    for c in containers_of(pod_spec):
        for m in c.get("volumeMounts") or []:
            if m["name"] in claims and str(PurePosixPath(m["mountPath"])) == DATA_DIR:
                found.add(m["name"])
    return sorted(found)


def min_available(pdb: dict, replicas: Any) -> int | None:
    """The pods a budget keeps, for a whole number of replicas (percentages: None)."""
    if not isinstance(replicas, int):
        return None
    if "minAvailable" in pdb and "maxUnavailable" not in pdb:
        v = pdb["minAvailable"]
        return v if isinstance(v, int) else None
    if "maxUnavailable" in pdb and "minAvailable" not in pdb:
        v = pdb["maxUnavailable"]
        return replicas - v if isinstance(v, int) else None
    return None


def check_spread(r: Report, pod_spec: dict, pod_labels: dict) -> None:
    """Several replicas: not all on one node (anti-affinity) and spread (topology)."""
    anti = dig(pod_spec, "affinity", "podAntiAffinity", default={}) or {}
    terms = [t.get("podAffinityTerm", {}) for t in
             anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    terms += list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
    r.check(any(t.get("topologyKey") == "kubernetes.io/hostname"
                and selects(t.get("labelSelector"), pod_labels) for t in terms),
            "pod anti-affinity across nodes (kubernetes.io/hostname), selecting the pods")
    spread = pod_spec.get("topologySpreadConstraints") or []
    r.check(bool(spread) and all(selects(t.get("labelSelector"), pod_labels) for t in spread),
            "topologySpreadConstraints present, each selecting the pods",
            str([t.get("topologyKey") for t in spread]))


def image_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


def check_gateway(r: Report, docs: list[dict], dockerfile: str | None, fail_closed: bool) -> None:
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    found = [d for k in GATEWAY_KINDS for d in by_kind.get(k, [])
             if d["metadata"]["name"] == GATEWAY]
    if not r.check(len(found) == 1,
                   f"one gateway: StatefulSet/{GATEWAY} (SQLite) or Deployment/{GATEWAY} (PostgreSQL)",
                   "found " + (", ".join(f"{d['kind']}/{GATEWAY}" for d in found) or "none")):
        return
    workload = found[0]
    ha = workload["kind"] == "Deployment"
    spec = workload["spec"]
    pod = spec["template"]
    pod_labels = dig(pod, "metadata", "labels", default={})
    pod_spec = pod["spec"]
    replicas = spec.get("replicas", 1)
    if ha:
        r.check(isinstance(replicas, int) and replicas >= 2,
                "Deployment replicas >= 2 (PostgreSQL: several replicas)", f"replicas={replicas}")
        rolling = dig(spec, "strategy", "rollingUpdate", default={}) or {}
        r.check(dig(spec, "strategy", "type") == "RollingUpdate"
                and rolling.get("maxUnavailable") in (0, "0", "0%")
                and rolling.get("maxSurge") not in (None, 0, "0", "0%"),
                "RollingUpdate with maxUnavailable 0 and maxSurge >= 1 (no capacity lost in a rollout)",
                str(spec.get("strategy")))
        r.check(not sqlite_volumes(pod_spec)
                and not any("persistentVolumeClaim" in v or "ephemeral" in v
                            for v in pod_spec.get("volumes") or []),
                "no volume claim and no SQLite volume (the state is in PostgreSQL)",
                str([v["name"] for v in pod_spec.get("volumes") or []]))
        check_spread(r, pod_spec, pod_labels)
    else:
        r.check(replicas == 1, "replicas: 1 (SQLite: one writer)", f"replicas={replicas}")
    r.check(selects(spec.get("selector"), pod_labels),
            f"{workload['kind']} selector matches its pod")

    c = next((c for c in pod_spec.get("containers", []) if c["name"] == GATEWAY), None)
    if not r.check(c is not None, f"container {GATEWAY}"):
        return
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
    r.check("grpc" in ports and "metrics" in ports, "container ports named grpc and metrics",
            str(ports))
    grpc_port = ports.get("grpc")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        p = c.get(probe) or {}
        r.check("grpc" in p and p["grpc"].get("port") == grpc_port,
                f"{probe}: native gRPC probe on the grpc port ({grpc_port})",
                str(p.get("grpc") or "no grpc action"))
    r.check(dig(c, "readinessProbe", "grpc", "service") == API_SERVICE,
            f"readinessProbe on service {API_SERVICE}")
    r.check(dig(c, "livenessProbe", "grpc", "service") in (None, ""),
            "livenessProbe on the overall health (service \"\")")

    # Volumes: the claim template (SQLite), the ConfigMap.
    templates = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates", [])}
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    rwo = [n for n, t in templates.items() if dig(t, "spec", "accessModes") == ["ReadWriteOnce"]]
    if not ha:
        r.check(len(templates) == 1 and len(rwo) == 1 and rwo[0] in mounts,
                "one ReadWriteOnce volumeClaimTemplate, mounted", f"templates={list(templates)}")
        r.check(spec.get("persistentVolumeClaimRetentionPolicy", {}).get("whenDeleted") == "Retain",
                "PVC retained when the StatefulSet is deleted")

    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    cm_name = next((v["configMap"]["name"] for v in volumes.values() if "configMap" in v), None)
    cms = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    if not r.check(cm_name in cms, "the config volume's ConfigMap is in the stream", str(cm_name)):
        return
    config_dir = next((m["mountPath"] for m in c.get("volumeMounts", [])
                       if volumes.get(m["name"], {}).get("configMap")), None)
    args = c.get("args", [])
    config_arg = args[args.index("--config") + 1] if "--config" in args else None
    r.check(config_arg is not None and config_dir is not None
            and str(PurePosixPath(config_arg).parent) == config_dir
            and PurePosixPath(config_arg).name in cms[cm_name].get("data", {}),
            "--config names the mounted ConfigMap's file", f"--config {config_arg}")
    try:
        config = yaml.safe_load(cms[cm_name]["data"][PurePosixPath(config_arg).name])
    except Exception as e:  # noqa: BLE001 - reported as a failed check
        r.check(False, "switchyard.yaml parses", str(e))
        return
    r.check("tls" not in config,
            "config has no tls section (the kubelet's gRPC probes are plaintext)")
    listen = str(config.get("listen", ""))
    r.check(listen.startswith("0.0.0.0:") and listen.rsplit(":", 1)[1] == str(grpc_port),
            "config listen on 0.0.0.0 and the grpc port", listen)
    openai_listen = config.get("openai_listen")
    if openai_listen is not None:
        r.check(str(openai_listen).startswith("0.0.0.0:")
                and str(openai_listen).rsplit(":", 1)[1] == str(ports.get("http")),
                "config openai_listen on 0.0.0.0 and the container port named http",
                f"{openai_listen} vs {ports.get('http')}")
    metrics_listen = str(dig(config, "telemetry", "metrics_listen", default=""))
    metrics_port = ports.get("metrics")
    r.check(metrics_listen.rsplit(":", 1)[-1] == str(metrics_port),
            "config telemetry.metrics_listen on the metrics port", metrics_listen)
    declared = sorted(
        {p["api_key_env"] for p in (config.get("providers") or {}).values()
         if isinstance(p, dict) and p.get("api_key_env")}
        | {k["env"] for p in (config.get("providers") or {}).values() if isinstance(p, dict)
           for k in p.get("keys") or [] if isinstance(k, dict) and k.get("env")})
    pod_env = {e["name"] for e in c.get("env", [])}
    r.check(all(v in pod_env for v in declared),
            "every key variable the config declares (api_key_env, keys[].env) is set in the pod",
            ", ".join(v for v in declared if v not in pod_env))
    ann = dig(pod, "metadata", "annotations", default={})
    r.check(ann.get("prometheus.io/scrape") == "true"
            and ann.get("prometheus.io/port") == str(metrics_port)
            and ann.get("prometheus.io/path") == "/metrics",
            "Prometheus scrape annotations on the metrics port")
    env = {e["name"]: e for e in c.get("env", [])}
    database = config.get("database") or {}
    data_mount = mounts.get(rwo[0]) if rwo else None
    if ha:
        ref = dig(env.get("DATABASE_URL", {}), "valueFrom", "secretKeyRef")
        r.check(ref is not None and ref.get("optional") is False,
                "DATABASE_URL from a required Secret key (the store on PostgreSQL)", str(ref))
        r.check("url" not in database,
                "no database.url in the ConfigMap (the URL holds a password: a Secret only)")
        r.check("path" not in database, "no database.path in the config (no SQLite file)",
                str(database.get("path")))
    else:
        db_path = PurePosixPath(str(database.get("path", "")))
        r.check(db_path.is_absolute() and data_mount is not None
                and str(db_path.parent) == data_mount,
                "config database.path on the persistent volume", f"{db_path} vs {data_mount}")
        r.check("DATABASE_URL" not in env and "url" not in database,
                "no DATABASE_URL or database.url (the StatefulSet is the SQLite gateway)")
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    try:
        drain = duration_seconds(config.get("shutdown_grace", "30s"))
        r.check(grace > drain, "terminationGracePeriodSeconds above shutdown_grace",
                f"{grace}s vs {drain}s")
    except ValueError as e:
        r.check(False, "shutdown_grace parses", str(e))
    writable = {"/tmp"} | ({data_mount} if data_mount else set())
    r.check(writable <= {m["mountPath"] for m in c.get("volumeMounts", [])
                         if not m.get("readOnly")},
            "writable mounts for the read-only root: /tmp" + ("" if ha else " and the data volume"))

    # Who selects the pod.
    services = [s for s in by_kind.get("Service", []) if selects(s["spec"].get("selector"), pod_labels)]
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    regular = [s for s in services if s["spec"].get("clusterIP") != "None"]
    if not ha:
        r.check(any(s["metadata"]["name"] == spec.get("serviceName") for s in headless),
                "headless Service named by serviceName selects the pod",
                str(spec.get("serviceName")))
    for s in regular + headless:
        sp = {p.get("name"): p for p in s["spec"].get("ports", [])}
        r.check(sp.get("grpc", {}).get("appProtocol") == "grpc"
                and sp.get("grpc", {}).get("targetPort") in ("grpc", grpc_port)
                and "metrics" in sp,
                f"Service/{s['metadata']['name']}: ports grpc (appProtocol grpc) and metrics")
    r.check(len(regular) >= 1, "a ClusterIP Service selects the pod")
    pdbs = [p for p in by_kind.get("PodDisruptionBudget", [])
            if selects(p["spec"].get("selector"), pod_labels)]
    r.check(len(pdbs) == 1, "one PodDisruptionBudget selects the pod", f"found {len(pdbs)}")
    for p in pdbs:
        if ha:
            keep = min_available(p["spec"], replicas)
            r.check(keep is not None and isinstance(replicas, int) and 1 <= keep <= replicas - 1,
                    f"PDB keeps at least one of {replicas} pods and lets a drain evict one "
                    "(minAvailable 2 or maxUnavailable 1 for 3)", str(p["spec"]))
        else:
            r.check(p["spec"].get("maxUnavailable") not in (None, 0, "0", "0%")
                    and "minAvailable" not in p["spec"],
                    "PDB lets node drains evict the single pod (maxUnavailable >= 1)",
                    str(p["spec"]))
    nps = [n for n in by_kind.get("NetworkPolicy", [])
           if selects(n["spec"].get("podSelector"), pod_labels)]
    r.check(any({"Ingress", "Egress"} <= set(n["spec"].get("policyTypes", [])) for n in nps),
            "a NetworkPolicy restricts the pod's ingress and egress")
    grpc_rules = [rule for n in nps for rule in n["spec"].get("ingress", [])
                  if any(p.get("port") in ("grpc", grpc_port) for p in rule.get("ports", []))]
    r.check(bool(grpc_rules) and all(
                rule.get("from") and all(
                    dig(peer, "podSelector", "matchLabels", "switchyard/agent") == "true"
                    for peer in rule["from"])
                for rule in grpc_rules),
            "gRPC ingress only from pods labelled switchyard/agent=true")
    sa = next((s for s in by_kind.get("ServiceAccount", [])
               if s["metadata"]["name"] == pod_spec.get("serviceAccountName")), None)
    r.check(sa is not None and sa.get("automountServiceAccountToken") is False,
            "its ServiceAccount is in the stream, automountServiceAccountToken false")

    master = dig(env.get("SWITCHYARD_MASTER_KEY", {}), "valueFrom", "secretKeyRef")
    r.check(master is not None, "SWITCHYARD_MASTER_KEY comes from a Secret")
    if ha:
        r.check(master is not None and master.get("optional") is False,
                "SWITCHYARD_MASTER_KEY from a required Secret key (PostgreSQL: no key is "
                "generated, every replica must share one)", str(master))
    for cluster in by_kind.get("Cluster", []):
        if cluster.get("apiVersion") != CNPG:
            continue
        cname = cluster["metadata"]["name"]
        instances = dig(cluster, "spec", "instances")
        r.check(isinstance(instances, int) and instances >= 3,
                f"Cluster/{cname} (CloudNativePG): 3 instances or more", f"instances={instances}")
        ref = dig(env.get("DATABASE_URL", {}), "valueFrom", "secretKeyRef") or {}
        r.check(ref.get("name") == f"{cname}-app" and ref.get("key") == "uri",
                f"DATABASE_URL from the Secret {cname}-app, key uri (made by CloudNativePG)",
                str(ref))
    if fail_closed:
        for name in ("SWITCHYARD_MASTER_KEY", "SWITCHYARD__AUTH__CLIENT_TOKEN_SHA256"):
            ref = dig(env.get(name, {}), "valueFrom", "secretKeyRef")
            r.check(ref is not None and ref.get("optional") is False,
                    f"{name} from a required Secret key (fail closed)", str(ref))

    if dockerfile:
        check_dockerfile(r, dockerfile, pod_spec, c, ports)


def check_dockerfile(r: Report, path: str, pod_spec: dict, c: dict, ports: dict) -> None:
    """The runtime (last) stage's USER and EXPOSE agree with the pod."""
    lines = re.sub(r"\\\n", " ", open(path, encoding="utf-8").read()).splitlines()
    stages: list[list[str]] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"(?i)FROM\s", line):
            stages.append([])
        if stages:
            stages[-1].append(line)
    last = stages[-1] if stages else []
    user = [l.split(None, 1)[1] for l in last if re.match(r"(?i)USER\s", l)]
    uid = user[-1].split(":")[0] if user else ""
    pod_uid = dig(c, "securityContext", "runAsUser", default=dig(pod_spec, "securityContext", "runAsUser"))
    r.check(uid.isdigit() and int(uid) == pod_uid and int(uid) > 0,
            "Dockerfile runtime USER is numeric, non-root and equals runAsUser",
            f"USER {uid or '-'} vs runAsUser {pod_uid}")
    exposed = {int(p.split("/")[0]) for l in last if re.match(r"(?i)EXPOSE\s", l)
               for p in l.split()[1:]}
    r.check(exposed == {v for v in ports.values() if v is not None},
            "Dockerfile EXPOSE equals the pod's container ports (grpc, metrics, http)",
            f"{sorted(exposed)} vs {sorted(v for v in ports.values() if v is not None)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("label", help="name used in the report, e.g. overlays/prod")
    ap.add_argument("manifest", help="rendered multi-document YAML")
    ap.add_argument("--gateway", action="store_true",
                    help="require the gateway (the switchyard StatefulSet or Deployment)")
    ap.add_argument("--pinned-images", action="store_true", help="require tagged or digest images")
    ap.add_argument("--fail-closed", action="store_true",
                    help="require the master key and agent token hashes from a Secret")
    ap.add_argument("--dockerfile", help="cross-check the runtime stage of this Dockerfile")
    ap.add_argument("--config-out", help="write the gateway's switchyard.yaml here")
    args = ap.parse_args()

    with open(args.manifest, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    r = Report(args.label)
    r.check(all(isinstance(d, dict) and "kind" in d and "metadata" in d for d in docs),
            f"{len(docs)} documents, each with kind and metadata")
    docs = [d for d in docs if isinstance(d, dict) and "kind" in d and "metadata" in d]

    workloads = [d for d in docs if d["kind"] in WORKLOAD_KINDS]
    for w in workloads:
        check_workload(r, w)
    if args.pinned_images:
        for w in workloads:
            for c in containers_of(dig(pod_template(w), "spec") or {}):
                r.check(image_pinned(c.get("image", "")),
                        f"{w['kind']}/{w['metadata']['name']}[{c['name']}]: image pinned",
                        c.get("image", ""))
    has_gateway = any(d["kind"] in GATEWAY_KINDS and d["metadata"]["name"] == GATEWAY for d in docs)
    if args.gateway or has_gateway:
        check_gateway(r, docs, args.dockerfile, args.fail_closed)
    if args.config_out and has_gateway:
        cm = next((d for d in docs if d["kind"] == "ConfigMap"
                   and "switchyard.yaml" in d.get("data", {})), None)
        if cm is not None:
            with open(args.config_out, "w", encoding="utf-8") as out:
                out.write(cm["data"]["switchyard.yaml"])

    print(f"  {args.label}: {r.passed} passed, {r.failed} failed")
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
