#!/usr/bin/env bash
# deploy/ci.sh: render every kustomize overlay of deploy/kubernetes and validate it
# offline, then check the policies a schema cannot express. Exit status 0 only when
# everything passes.
#
# Needs Go (>= 1.26 for kustomize v5.8.2) and Python 3 with venv, plus access to the
# Go module proxy and PyPI; it downloads nothing else. Tools go to deploy/.venv:
#   kustomize            `go install` from the Go module proxy   -> deploy/.venv/bin
#   kubernetes-validate  pip, with PyYAML                         -> deploy/.venv
#   dockerfile-lint      deploy/ci/dockerfile-lint (BuildKit's Dockerfile parser and
#                        lint rules as a Go module, built here)   -> deploy/.venv/bin
# A second run reuses them (a few seconds). No Docker engine is used: the image itself
# is not built here.
#
# Environment:
#   KUSTOMIZE_VERSION, KUBERNETES_VALIDATE_VERSION  override the pins below
#   KUBERNETES_VERSIONS  Kubernetes versions to validate against (default below)
#   SWITCHYARD_BIN       a built switchyard binary: also run `check-config` on the
#                        config of every rendered overlay (.ci/run builds one)
#   KEEP_RENDERED=DIR    keep the rendered manifests in DIR
set -euo pipefail

deploy=$(cd "$(dirname "$0")" && pwd)
k8s=$deploy/kubernetes

# Pins. kustomize v5.8.3 needs Go 1.27; v5.8.2 is the newest that `go install` accepts
# on Go 1.26 (`go list -m -versions sigs.k8s.io/kustomize/kustomize/v5`).
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-v5.8.2}
KUBERNETES_VALIDATE_VERSION=${KUBERNETES_VALIDATE_VERSION:-1.37.0}
# The oldest Kubernetes the manifests support (PVC retention policy GA) and the newest
# whose schemas kubernetes-validate 1.37.0 ships.
KUBERNETES_VERSIONS=${KUBERNETES_VERSIONS:-1.32.0 1.37.0}

venv=$deploy/.venv
bin=$venv/bin
start=$SECONDS
passed=0
failed=0
step() { printf '\n=== %s (%ds)\n' "$*" "$((SECONDS - start))"; }
pass() { passed=$((passed + 1)); printf '  ok    %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf '  FAIL  %s\n' "$*"; }

step "tools: kubernetes-validate $KUBERNETES_VALIDATE_VERSION (PyPI), kustomize $KUSTOMIZE_VERSION (Go module proxy)"
if [ ! -x "$bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ "$("$bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" \
     != "$KUBERNETES_VALIDATE_VERSION" ]; then
  "$bin/python" -m pip install --disable-pip-version-check --quiet \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi
if [ "$("$bin/kustomize" version 2>/dev/null)" != "$KUSTOMIZE_VERSION" ]; then
  # GOTOOLCHAIN=local: fail plainly on a Go too old, rather than fetch a toolchain.
  (cd "$deploy" && GOTOOLCHAIN=local GOBIN="$bin" \
    go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION")
fi
(cd "$deploy/ci/dockerfile-lint" && GOTOOLCHAIN=local go build -buildvcs=false -o "$bin/dockerfile-lint" .)
echo "kustomize $("$bin/kustomize" version)"
echo "kubernetes-validate $("$bin/kubernetes-validate" --version)"
echo "$("$bin/python" --version), PyYAML $("$bin/python" -c 'import yaml; print(yaml.__version__)')"

step "dockerfile: BuildKit parse + lint rules (docker build --check), offline"
if log=$("$bin/dockerfile-lint" "$deploy/Dockerfile" 2>&1); then
  pass "Dockerfile: $log"
else
  fail "Dockerfile"
  printf '%s\n' "$log" | sed 's/^/        /'
fi

if [ -n "${KEEP_RENDERED:-}" ]; then
  out=$KEEP_RENDERED
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi

# Every overlay, found rather than listed, plus the base on its own.
targets=(base)
for dir in "$k8s"/overlays/*/; do
  targets+=("overlays/$(basename "$dir")")
done

step "render: kustomize build (${targets[*]})"
rendered=()
for t in "${targets[@]}"; do
  file=$out/${t//\//_}.yaml
  if err=$("$bin/kustomize" build "$k8s/$t" 2>&1 > "$file"); then
    pass "$t: $(grep -c '^kind:' "$file") objects"
    rendered+=("$t")
  else
    fail "$t: kustomize build"
    printf '%s\n' "$err" | sed 's/^/        /'
  fi
done

step "validate: kubernetes-validate --strict, Kubernetes $KUBERNETES_VERSIONS"
# With --quiet it prints only warnings and errors. A warning is a kind it has no
# schema for (a typo in apiVersion, a CRD): that fails too, except for the custom
# resources listed in SCHEMALESS_KINDS.
# Custom resources have no schema there. The kinds below (and only they) are taken out
# of the stream before validation and said so; the policy step still reads them.
SCHEMALESS_KINDS="postgresql.cnpg.io/v1:Cluster"
validate() {
  local label=$1 file=$2 k log skipped schema=$out/${1//\//_}.schema.yaml
  skipped=$("$bin/python" - "$file" "$schema" "$SCHEMALESS_KINDS" <<'PY'
import sys, yaml
src, dst, kinds = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
docs = [d for d in yaml.safe_load_all(open(src, encoding="utf-8")) if d]
keep = [d for d in docs if f"{d.get('apiVersion')}:{d.get('kind')}" not in kinds]
with open(dst, "w", encoding="utf-8") as out:
    yaml.safe_dump_all(keep, out, sort_keys=False)
print(", ".join(f"{d['apiVersion']} {d['kind']}/{d['metadata']['name']}"
                for d in docs if d not in keep))
PY
) || skipped="(the stream does not parse)"
  if [ -n "$skipped" ]; then
    echo "  skip  $label: no schema offline (CRD), not schema-validated: $skipped"
  fi
  for k in $KUBERNETES_VERSIONS; do
    if log=$("$bin/kubernetes-validate" --strict --kubernetes-version "$k" --quiet "$schema" 2>&1) \
       && [ -z "$log" ]; then
      pass "$label: valid against Kubernetes $k"
    else
      fail "$label: Kubernetes $k"
      printf '%s\n' "$log" | sed 's/^/        /'
    fi
  done
}
for t in "${rendered[@]}"; do
  validate "$t" "$out/${t//\//_}.yaml"
done
for f in "$k8s"/tools/*.yaml; do
  validate "tools/$(basename "$f")" "$f"
done

step "policy: deploy/ci/check_manifests.py"
policy() {
  if "$bin/python" "$deploy/ci/check_manifests.py" "$@"; then
    pass "$1: policy"
  else
    fail "$1: policy"
  fi
}
for t in "${rendered[@]}"; do
  flags=(--gateway --dockerfile "$deploy/Dockerfile" --config-out "$out/${t//\//_}.switchyard.yaml")
  # The base's image is a placeholder that every overlay replaces.
  [ "$t" != base ] && flags+=(--pinned-images)
  case $t in overlays/prod | overlays/ha*) flags+=(--fail-closed) ;; esac
  policy "$t" "$out/${t//\//_}.yaml" "${flags[@]}"
done
for f in "$k8s"/tools/*.yaml; do
  policy "tools/$(basename "$f")" "$f" --pinned-images
done

step "policy self-test: broken variants of overlays/ha must fail"
# Each variant breaks one rule of the gateway on PostgreSQL; check_manifests.py must
# refuse every one (a check that cannot fail proves nothing).
ha=$out/overlays_ha.yaml
if [ -f "$ha" ]; then
  "$bin/python" - "$ha" "$out/broken" "$out/base.yaml" <<'PY'
import copy, os, sys, yaml
src, outdir, base = sys.argv[1], sys.argv[2], sys.argv[3]
docs = [d for d in yaml.safe_load_all(open(src, encoding="utf-8")) if d]
os.makedirs(outdir, exist_ok=True)

def variant(name, change):
    v = copy.deepcopy(docs)
    dep = next(d for d in v if d["kind"] == "Deployment" and d["metadata"]["name"] == "switchyard")
    v = change(v, dep) or v
    with open(f"{outdir}/{name}.yaml", "w", encoding="utf-8") as out:
        yaml.safe_dump_all(v, out, sort_keys=False)

def c0(dep):
    return dep["spec"]["template"]["spec"]["containers"][0]

def sqlite_pvc(v, dep):
    dep["spec"]["template"]["spec"]["volumes"].append(
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-switchyard-0"}})
    c0(dep)["volumeMounts"].append({"name": "data", "mountPath": "/var/lib/switchyard"})
def one_replica(v, dep):
    dep["spec"]["replicas"] = 1
def no_database_url(v, dep):
    c0(dep)["env"] = [e for e in c0(dep)["env"] if e["name"] != "DATABASE_URL"]
def optional_master_key(v, dep):
    for e in c0(dep)["env"]:
        if e["name"] == "SWITCHYARD_MASTER_KEY":
            e["valueFrom"]["secretKeyRef"]["optional"] = True
def surge_only_by_unavailable(v, dep):
    dep["spec"]["strategy"]["rollingUpdate"] = {"maxUnavailable": 1, "maxSurge": 0}
def no_anti_affinity(v, dep):
    del dep["spec"]["template"]["spec"]["affinity"]
def pdb_blocks_drains(v, dep):
    pdb = next(d for d in v if d["kind"] == "PodDisruptionBudget")
    pdb["spec"].pop("maxUnavailable", None)
    pdb["spec"]["minAvailable"] = 3
def with_the_statefulset(v, dep):
    sts = [d for d in yaml.safe_load_all(open(base, encoding="utf-8")) if d and d["kind"] == "StatefulSet"]
    return v + sts

for f in (sqlite_pvc, one_replica, no_database_url, optional_master_key,
          surge_only_by_unavailable, no_anti_affinity, pdb_blocks_drains, with_the_statefulset):
    variant(f.__name__, f)
PY
  for f in "$out"/broken/*.yaml; do
    name=$(basename "$f" .yaml)
    if log=$("$bin/python" "$deploy/ci/check_manifests.py" "broken/$name" "$f" --gateway --fail-closed 2>&1); then
      fail "broken/$name: check_manifests.py accepted it"
    else
      pass "broken/$name: refused ($(printf '%s\n' "$log" | grep -m1 -o 'FAIL .*' | cut -c7-))"
    fi
  done
else
  fail "overlays/ha did not render: no self-test"
fi

if [ -n "${SWITCHYARD_BIN:-}" ]; then
  step "config: $SWITCHYARD_BIN check-config on each rendered switchyard.yaml"
  for t in "${rendered[@]}"; do
    config=$out/${t//\//_}.switchyard.yaml
    # A clean environment: no SWITCHYARD__* override of this shell leaks in.
    if log=$(env -i PATH="$PATH" "$SWITCHYARD_BIN" --config "$config" check-config 2>&1); then
      pass "$t: switchyard check-config"
    else
      fail "$t: switchyard check-config"
      printf '%s\n' "$log" | sed 's/^/        /'
    fi
  done
fi

step "done in $((SECONDS - start))s"
echo "deploy: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
