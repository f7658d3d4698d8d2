package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/intake/intake/pkg/clientip"
)

// The Kubernetes manifests in deploy/kubernetes and docker-compose.yml must
// run targets that exist, with configuration the binary actually reads.
// (Tests of docker-compose.yml are named TestKubernetes* too, so that
// `go test -run Kubernetes` runs every deployment-file check.)

const (
	k8sDir      = "../../deploy/kubernetes"
	composeFile = "../../docker-compose.yml"
	intakeMain  = "../intake/main.go"
)

// k8sObject is one YAML document of a manifest file.
type k8sObject struct {
	File string
	Doc  map[string]any
}

func (o k8sObject) kind() string { return asString(o.Doc["kind"]) }
func (o k8sObject) name() string { return asString(dig(o.Doc, "metadata", "name")) }
func (o k8sObject) String() string {
	return fmt.Sprintf("%s: %s/%s", filepath.Base(o.File), o.kind(), o.name())
}

// helmValuesFile reports whether a file is a Helm values file, not a manifest.
func helmValuesFile(path string) bool { return strings.HasSuffix(filepath.Base(path), "-values.yaml") }

// readYAMLDocs decodes every document of a multi-document YAML file.
func readYAMLDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for i := 0; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("parse %s (document %d): %v", path, i+1, err)
		}
		if doc != nil { // an empty document (a stray ---) is no object
			docs = append(docs, doc)
		}
	}
}

// loadK8s reads every manifest in deploy/kubernetes (Helm values files aside).
func loadK8s(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", k8sDir, err)
	}
	var objs []k8sObject
	for _, f := range files {
		if helmValuesFile(f) {
			continue
		}
		docs := readYAMLDocs(t, f)
		if len(docs) == 0 {
			t.Errorf("%s: no YAML documents", f)
		}
		for _, d := range docs {
			objs = append(objs, k8sObject{File: f, Doc: d})
		}
	}
	return objs
}

// serveEnvVars returns the INTAKE_* variables `intake serve` reads: one per
// flag defined in serve() of services/intake/main.go (parseWithEnv maps
// --flag-name to INTAKE_FLAG_NAME).
func serveEnvVars(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(intakeMain)
	if err != nil {
		t.Fatalf("read %s: %v", intakeMain, err)
	}
	body := string(src)
	start := strings.Index(body, "\nfunc serve(")
	if start < 0 {
		t.Fatalf("%s: no func serve", intakeMain)
	}
	body = body[start+1:]
	if end := strings.Index(body, "\nfunc "); end >= 0 {
		body = body[:end]
	}
	flagDef := regexp.MustCompile(`fs\.(?:String|Int|Int64|Uint|Uint64|Duration|Bool|Float64)Var\(\s*&[^,]+,\s*"([a-z0-9-]+)"`)
	vars := map[string]bool{}
	for _, m := range flagDef.FindAllStringSubmatch(body, -1) {
		vars["INTAKE_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = true
	}
	for _, must := range []string{"INTAKE_TARGET", "INTAKE_HTTP_ADDR", "INTAKE_NATS_URL", "INTAKE_MONGO_URI"} {
		if !vars[must] {
			t.Fatalf("%s: parsed flags %v lack %s: has the flag definition style changed?", intakeMain, sortedKeys(vars), must)
		}
	}
	return vars
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// targetOf returns the services a `serve` command line selects with --target
// (the flag's default is all).
func targetOf(args []string) ([]string, error) {
	if len(args) == 0 || args[0] != "serve" {
		return nil, fmt.Errorf("command %q does not start with serve", args)
	}
	var targets []string
	for i, a := range args[1:] {
		v, ok := strings.CutPrefix(a, "--target=")
		if !ok && (a == "--target" || a == "-target") && i+2 < len(args) {
			v, ok = args[i+2], true
		}
		if !ok {
			continue
		}
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "all" {
				targets = append(targets, Services...)
			} else {
				targets = append(targets, s)
			}
		}
	}
	if targets == nil {
		return nil, fmt.Errorf("command %q has no --target (it would run all services)", args)
	}
	for _, s := range targets {
		if !slices.Contains(Services, s) {
			return nil, fmt.Errorf("command %q: unknown target %q (known: %v)", args, s, Services)
		}
	}
	return targets, nil
}

func stringList(v any) []string {
	var out []string
	for _, x := range asList(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// labelsMatch reports whether selector's labels are all among labels.
func labelsMatch(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifests(t *testing.T) {
	objs := loadK8s(t)
	envOK := serveEnvVars(t)

	configMaps := map[string]map[string]any{}
	for _, o := range objs {
		if asString(o.Doc["apiVersion"]) == "" || o.kind() == "" || o.name() == "" {
			t.Errorf("%s: every object needs apiVersion, kind and metadata.name (got %q, %q, %q)",
				filepath.Base(o.File), o.Doc["apiVersion"], o.kind(), o.name())
		}
		if o.kind() == "ConfigMap" {
			configMaps[o.name()] = asMap(o.Doc["data"])
		}
	}

	deployments := map[string]k8sObject{} // by Deployment name
	podLabels := map[string]map[string]any{}
	serviceOf := map[string]string{} // Deployment name -> its --target
	for _, o := range objs {
		if o.kind() != "Deployment" {
			continue
		}
		deployments[o.name()] = o
		tmpl := dig(o.Doc, "spec", "template")
		podLabels[o.name()] = asMap(dig(tmpl, "metadata", "labels"))
		if sel := asMap(dig(o.Doc, "spec", "selector", "matchLabels")); !labelsMatch(sel, podLabels[o.name()]) {
			t.Errorf("%s: spec.selector %v does not match the pod labels %v", o, sel, podLabels[o.name()])
		}
		if _, ok := asMap(o.Doc["spec"])["replicas"]; ok {
			t.Errorf("%s: no spec.replicas, please: the HorizontalPodAutoscaler owns the count", o)
		}
		pod := asMap(dig(tmpl, "spec"))
		containers := asList(pod["containers"])
		if len(containers) != 1 {
			t.Errorf("%s: want one container, got %d", o, len(containers))
			continue
		}
		c := asMap(containers[0])
		targets, err := targetOf(stringList(c["args"]))
		switch {
		case err != nil:
			t.Errorf("%s: %v", o, err)
		case len(targets) != 1:
			t.Errorf("%s: want one service per Deployment, got --target %v", o, targets)
		default:
			serviceOf[o.name()] = targets[0]
		}
		if !slices.Contains(stringList(c["args"]), "--http-addr=0.0.0.0:8080") {
			t.Errorf("%s: args %v: want --http-addr=0.0.0.0:8080 (probes and Services use port 8080)", o, c["args"])
		}
		if image := asString(c["image"]); !strings.HasPrefix(image, "intake:") {
			t.Errorf("%s: image %q, want the intake image (kustomization.yaml's images sets registry and tag)", o, image)
		}

		// Probes.
		for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
			got := asString(dig(c, probe, "httpGet", "path"))
			if got != path {
				t.Errorf("%s: %s: httpGet path %q, want %q", o, probe, got, path)
			}
			if port := dig(c, probe, "httpGet", "port"); fmt.Sprint(port) != "8080" && fmt.Sprint(port) != "http" {
				t.Errorf("%s: %s: port %v, want 8080 (or the named port http)", o, probe, port)
			}
		}
		ports := asList(c["ports"])
		if len(ports) != 1 || fmt.Sprint(dig(ports[0], "containerPort")) != "8080" || asString(dig(ports[0], "name")) != "http" {
			t.Errorf("%s: want the one container port http: 8080, got %v", o, ports)
		}

		// Resources.
		for _, kind := range []string{"requests", "limits"} {
			for _, res := range []string{"cpu", "memory"} {
				if dig(c, "resources", kind, res) == nil {
					t.Errorf("%s: resources.%s.%s missing", o, kind, res)
				}
			}
		}

		// Security: non-root, read-only root filesystem, a writable /tmp.
		nonRoot := dig(pod, "securityContext", "runAsNonRoot") == true || dig(c, "securityContext", "runAsNonRoot") == true
		if !nonRoot {
			t.Errorf("%s: runAsNonRoot must be true", o)
		}
		if dig(c, "securityContext", "readOnlyRootFilesystem") != true {
			t.Errorf("%s: readOnlyRootFilesystem must be true", o)
		}
		if dig(c, "securityContext", "allowPrivilegeEscalation") != false {
			t.Errorf("%s: allowPrivilegeEscalation must be false", o)
		}
		tmpVolume := ""
		for _, m := range asList(c["volumeMounts"]) {
			if asString(dig(m, "mountPath")) == "/tmp" {
				tmpVolume = asString(dig(m, "name"))
			}
		}
		hasEmptyDir := false
		for _, v := range asList(pod["volumes"]) {
			if asString(dig(v, "name")) == tmpVolume && dig(v, "emptyDir") != nil {
				hasEmptyDir = true
			}
		}
		if tmpVolume == "" || !hasEmptyDir {
			t.Errorf("%s: mount an emptyDir at /tmp (XLSX uploads are spooled to the temp dir; the root filesystem is read-only)", o)
		}

		// Environment: only variables `intake serve` reads.
		var names []string
		for _, e := range asList(c["env"]) {
			names = append(names, asString(dig(e, "name")))
		}
		for _, ef := range asList(c["envFrom"]) {
			if cm := asString(dig(ef, "configMapRef", "name")); cm != "" {
				data, ok := configMaps[cm]
				if !ok {
					t.Errorf("%s: envFrom ConfigMap %q is not among the manifests", o, cm)
				}
				names = append(names, sortedKeys(data)...)
			}
			if dig(ef, "secretRef") != nil {
				t.Errorf("%s: envFrom a Secret hides which variables are set; use env with secretKeyRef", o)
			}
			if asString(dig(ef, "prefix")) != "" {
				t.Errorf("%s: envFrom prefix: not checked by this test; use plain names", o)
			}
		}
		for _, n := range names {
			if !envOK[n] {
				t.Errorf("%s: environment variable %s is not read by intake serve (known: %v)", o, n, sortedKeys(envOK))
			}
		}
		for _, must := range []string{"INTAKE_NATS_URL", "INTAKE_MONGO_URI", "INTAKE_STREAM_REPLICAS"} {
			if !slices.Contains(names, must) {
				t.Errorf("%s: %s is not set (the embedded broker/database would start instead, or R1 streams)", o, must)
			}
		}
	}

	// One Deployment per service.
	var served []string
	for _, s := range serviceOf {
		served = append(served, s)
	}
	sort.Strings(served)
	want := slices.Clone(Services)
	sort.Strings(want)
	if !slices.Equal(served, want) {
		t.Errorf("the Deployments run %v, want one per service: %v", served, want)
	}

	// Autoscalers, disruption budgets and Services point at real pods.
	hpaFor := map[string]k8sObject{}
	pdbFor := map[string]bool{}
	for _, o := range objs {
		switch o.kind() {
		case "HorizontalPodAutoscaler":
			ref := asMap(dig(o.Doc, "spec", "scaleTargetRef"))
			if ref["kind"] != "Deployment" || deployments[asString(ref["name"])].Doc == nil {
				t.Errorf("%s: scaleTargetRef %v is no Deployment of the manifests", o, ref)
				continue
			}
			hpaFor[asString(ref["name"])] = o
			minR, maxR := dig(o.Doc, "spec", "minReplicas"), dig(o.Doc, "spec", "maxReplicas")
			if mn, ok1 := minR.(int); !ok1 || mn < 2 {
				t.Errorf("%s: minReplicas %v, want at least 2 (one pod is no fail-over)", o, minR)
			} else if mx, ok2 := maxR.(int); !ok2 || mx < mn {
				t.Errorf("%s: maxReplicas %v below minReplicas %v", o, maxR, minR)
			}
			if asString(dig(asList(dig(o.Doc, "spec", "metrics"))[0], "resource", "name")) != "cpu" {
				t.Errorf("%s: want a CPU-based autoscaler", o)
			}
		case "PodDisruptionBudget":
			sel := asMap(dig(o.Doc, "spec", "selector", "matchLabels"))
			matched := 0
			for d, labels := range podLabels {
				if labelsMatch(sel, labels) {
					pdbFor[d] = true
					matched++
				}
			}
			if matched != 1 {
				t.Errorf("%s: selector %v matches %d Deployments, want 1", o, sel, matched)
			}
		case "Service":
			sel := asMap(dig(o.Doc, "spec", "selector"))
			matched := false
			for _, labels := range podLabels {
				matched = matched || labelsMatch(sel, labels)
			}
			if !matched {
				t.Errorf("%s: selector %v matches no Deployment's pods", o, sel)
			}
			for _, p := range asList(dig(o.Doc, "spec", "ports")) {
				if tp := fmt.Sprint(dig(p, "targetPort")); tp != "8080" && tp != "http" {
					t.Errorf("%s: targetPort %s, want 8080 (http)", o, tp)
				}
			}
		}
	}
	for d, svc := range serviceOf {
		hpa, ok := hpaFor[d]
		if !ok {
			t.Errorf("Deployment %s (%s) has no HorizontalPodAutoscaler", d, svc)
		}
		if !pdbFor[d] {
			t.Errorf("Deployment %s (%s) has no PodDisruptionBudget", d, svc)
		}
		if svc == "reporter" && ok {
			// MaxAckPending 1: more reporters give fail-over, not throughput.
			if mn, mx := dig(hpa.Doc, "spec", "minReplicas"), dig(hpa.Doc, "spec", "maxReplicas"); mn != 2 || mx != 2 {
				t.Errorf("%s: reporter replicas min %v max %v, want 2 and 2 (fail-over only)", hpa, mn, mx)
			}
		}
	}

	// The ingest API Service: port 80 to the pods' 8080.
	ingestSvc := false
	for _, o := range objs {
		if o.kind() != "Service" || asString(dig(o.Doc, "spec", "clusterIP")) == "None" {
			continue
		}
		for d, labels := range podLabels {
			if serviceOf[d] == "ingest" && labelsMatch(asMap(dig(o.Doc, "spec", "selector")), labels) {
				for _, p := range asList(dig(o.Doc, "spec", "ports")) {
					if fmt.Sprint(dig(p, "port")) == "80" {
						ingestSvc = true
					}
				}
			}
		}
	}
	if !ingestSvc {
		t.Error("no Service exposes the ingest pods on port 80")
	}

	// Behind the ingress, the failed-login limiter must see clients, not the
	// ingress: ingest trusts a proxy range, and only ingest does.
	for d, svc := range serviceOf {
		var proxies any
		for _, e := range asList(dig(asList(dig(deployments[d].Doc, "spec", "template", "spec", "containers"))[0], "env")) {
			if asString(dig(e, "name")) == "INTAKE_TRUSTED_PROXIES" {
				proxies = dig(e, "value")
			}
		}
		switch {
		case svc == "ingest" && asString(proxies) == "":
			t.Errorf("%s: INTAKE_TRUSTED_PROXIES is not set: behind the ingress every client shares the ingress's address, and 21 bad requests lock out everyone", deployments[d])
		case svc == "ingest":
			if p, err := clientip.ParseCIDRs(asString(proxies)); err != nil || len(p) == 0 {
				t.Errorf("%s: INTAKE_TRUSTED_PROXIES %q: %v", deployments[d], proxies, err)
			}
		case proxies != nil:
			t.Errorf("%s: INTAKE_TRUSTED_PROXIES on %s, which serves no API", deployments[d], svc)
		}
	}

	// The INTAKE_MONGO_URI Secret is the one the MongoDB operator generates
	// for mongodb.yaml's user: <resource>-<auth db>-<user>.
	generated := map[string]bool{}
	for _, o := range objs {
		if o.kind() == "MongoDBCommunity" {
			if m := dig(o.Doc, "spec", "members"); m != 3 {
				t.Errorf("%s: members %v, want a replica set of 3", o, m)
			}
			for _, u := range asList(dig(o.Doc, "spec", "users")) {
				generated[o.name()+"-"+asString(dig(u, "db"))+"-"+asString(dig(u, "name"))] = true
			}
		}
	}
	for _, d := range deployments {
		for _, e := range asList(dig(asList(dig(d.Doc, "spec", "template", "spec", "containers"))[0], "env")) {
			if asString(dig(e, "name")) != "INTAKE_MONGO_URI" {
				continue
			}
			if s := asString(dig(e, "valueFrom", "secretKeyRef", "name")); !generated[s] {
				t.Errorf("%s: INTAKE_MONGO_URI from Secret %q, but the MongoDB operator generates %v", d, s, sortedKeys(generated))
			}
		}
	}
}

// TestKubernetesKustomization checks that the base lists every manifest (and
// only existing ones).
func TestKubernetesKustomization(t *testing.T) {
	// Applied separately, after what they depend on is installed.
	notInBase := map[string]string{
		"kustomization.yaml": "the base itself",
		"mongodb.yaml":       "needs the MongoDB operator's CRD (README.md)",
	}
	docs := readYAMLDocs(t, filepath.Join(k8sDir, "kustomization.yaml"))
	if len(docs) != 1 || docs[0]["kind"] != "Kustomization" {
		t.Fatalf("kustomization.yaml: want one Kustomization document")
	}
	listed := stringList(docs[0]["resources"])
	for _, r := range listed {
		if _, err := os.Stat(filepath.Join(k8sDir, r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		if _, skip := notInBase[base]; skip || helmValuesFile(f) {
			continue
		}
		if !slices.Contains(listed, base) {
			t.Errorf("kustomization.yaml does not list %s", base)
		}
	}
}

// TestKubernetesHelmValues checks the values of the official NATS chart:
// a three-node JetStream cluster on file storage that fsyncs every write.
func TestKubernetesHelmValues(t *testing.T) {
	docs := readYAMLDocs(t, filepath.Join(k8sDir, "nats-values.yaml"))
	if len(docs) != 1 {
		t.Fatalf("nats-values.yaml: want one document, got %d", len(docs))
	}
	v := docs[0]
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"config", "cluster", "enabled"}, true},
		{[]string{"config", "cluster", "replicas"}, 3},
		{[]string{"config", "jetstream", "enabled"}, true},
		{[]string{"config", "jetstream", "fileStore", "enabled"}, true},
		{[]string{"config", "jetstream", "fileStore", "pvc", "enabled"}, true},
		{[]string{"config", "jetstream", "merge", "sync_interval"}, "always"},
		{[]string{"config", "merge", "max_payload"}, 8 << 20},
	}
	for _, c := range checks {
		if got := dig(v, c.path...); got != c.want {
			t.Errorf("nats-values.yaml: %s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	// Streams are created with as many replicas as the cluster has servers.
	for _, o := range loadK8s(t) {
		if o.kind() == "ConfigMap" {
			if r, ok := asMap(o.Doc["data"])["INTAKE_STREAM_REPLICAS"]; ok && fmt.Sprint(r) != "3" {
				t.Errorf("%s: INTAKE_STREAM_REPLICAS %v, want 3 on the three-node cluster", o, r)
			}
		}
	}
}

// TestKubernetesDockerCompose parses docker-compose.yml: the NATS cluster,
// the MongoDB replica set with its init job, and one container per Intake
// service, each running a valid --target with configuration the binary reads.
func TestKubernetesDockerCompose(t *testing.T) {
	docs := readYAMLDocs(t, composeFile)
	if len(docs) != 1 {
		t.Fatalf("%s: want one YAML document, got %d", composeFile, len(docs))
	}
	services := asMap(docs[0]["services"])
	if services == nil {
		t.Fatalf("%s: no services", composeFile)
	}
	envOK := serveEnvVars(t)

	var nats, mongo, intake []string
	targets := map[string]string{} // target -> compose service
	for name, raw := range services {
		svc := asMap(raw)
		image := asString(svc["image"])
		command := stringList(svc["command"])
		switch {
		case strings.HasPrefix(image, "nats:"):
			nats = append(nats, name)
		case strings.HasPrefix(image, "mongo:") && slices.Contains(command, "--replSet"):
			mongo = append(mongo, name)
		case strings.HasPrefix(image, "intake:") || asString(dig(svc, "build", "dockerfile")) == "deploy/Dockerfile":
			intake = append(intake, name)
			ts, err := targetOf(command)
			if err != nil {
				t.Errorf("%s: service %s: %v", composeFile, name, err)
				continue
			}
			for _, tg := range ts {
				if other, dup := targets[tg]; dup {
					t.Errorf("%s: target %s runs in both %s and %s", composeFile, tg, other, name)
				}
				targets[tg] = name
			}
			env := asMap(svc["environment"])
			if env == nil && svc["environment"] != nil {
				t.Errorf("%s: service %s: write environment as a map", composeFile, name)
			}
			for k := range env {
				if !envOK[k] {
					t.Errorf("%s: service %s: %s is not read by intake serve", composeFile, name, k)
				}
			}
			for _, must := range []string{"INTAKE_NATS_URL", "INTAKE_MONGO_URI", "INTAKE_STREAM_REPLICAS"} {
				if _, ok := env[must]; !ok {
					t.Errorf("%s: service %s: %s is not set", composeFile, name, must)
				}
			}
			if fmt.Sprint(env["INTAKE_STREAM_REPLICAS"]) != "3" {
				t.Errorf("%s: service %s: INTAKE_STREAM_REPLICAS %v, want 3 on the three-node cluster", composeFile, name, env["INTAKE_STREAM_REPLICAS"])
			}
		}
	}
	sort.Strings(nats)
	sort.Strings(mongo)
	if len(nats) != 3 {
		t.Errorf("%s: %d NATS services %v, want 3", composeFile, len(nats), nats)
	}
	if len(mongo) != 3 {
		t.Errorf("%s: %d MongoDB replica set members %v, want 3", composeFile, len(mongo), mongo)
	}
	if _, ok := services["mongo-init"]; !ok {
		t.Errorf("%s: no mongo-init service (initiates the replica set)", composeFile)
	}
	for _, s := range Services {
		if _, ok := targets[s]; !ok {
			t.Errorf("%s: no container runs --target=%s", composeFile, s)
		}
	}
	if len(intake) != len(Services) {
		t.Errorf("%s: %d Intake containers %v, want one per service (%d)", composeFile, len(intake), intake, len(Services))
	}
}
