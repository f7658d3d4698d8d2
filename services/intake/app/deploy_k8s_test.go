package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/intake/intake/pkg/clientip"
	"github.com/intake/intake/pkg/embedded/ferrettest"
	"github.com/intake/intake/pkg/embedded/natstest"
	"github.com/intake/intake/pkg/testenv"
	"github.com/intake/intake/services/intake/app"
)

// The Kubernetes manifests in deploy/kubernetes and docker-compose.yml must
// run targets that exist, with configuration the binary actually reads.
// (Tests of docker-compose.yml are named TestKubernetes* too, so that
// `go test -run Kubernetes` runs every deployment-file check.)

const (
	k8sDir      = "../../../deploy/kubernetes"
	composeFile = "../../../docker-compose.yml"
	intakeMain  = "../main.go"
)

// k8sObject is one YAML document of a manifest file.
type k8sObject struct {
	File string
	Doc  map[string]any
}

func (o k8sObject) kind() string { return asString(o.Doc["kind"]) }

// workload reports whether the object runs Intake's pods: a Deployment, or a
// StatefulSet for the partitioned stages.
func (o k8sObject) workload() bool { return o.kind() == "Deployment" || o.kind() == "StatefulSet" }
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
// flag defined in serveCommand() of services/intake/main.go (fromEnv maps
// --flag-name to INTAKE_FLAG_NAME).
func serveEnvVars(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(intakeMain)
	if err != nil {
		t.Fatalf("read %s: %v", intakeMain, err)
	}
	body := string(src)
	start := strings.Index(body, "\nfunc serveCommand(")
	if start < 0 {
		t.Fatalf("%s: no func serveCommand", intakeMain)
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
				targets = append(targets, app.Services()...)
			} else {
				targets = append(targets, s)
			}
		}
	}
	if targets == nil {
		return nil, fmt.Errorf("command %q has no --target (it would run all services)", args)
	}
	for _, s := range targets {
		if !slices.Contains(app.Services(), s) {
			return nil, fmt.Errorf("command %q: unknown target %q (known: %v)", args, s, app.Services())
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

	deployments := map[string]k8sObject{} // Deployments and StatefulSets by name
	podLabels := map[string]map[string]any{}
	serviceOf := map[string]string{} // workload name -> its --target
	for _, o := range objs {
		if !o.workload() {
			continue
		}
		deployments[o.name()] = o
		tmpl := dig(o.Doc, "spec", "template")
		podLabels[o.name()] = asMap(dig(tmpl, "metadata", "labels"))
		if sel := asMap(dig(o.Doc, "spec", "selector", "matchLabels")); !labelsMatch(sel, podLabels[o.name()]) {
			t.Errorf("%s: spec.selector %v does not match the pod labels %v", o, sel, podLabels[o.name()])
		}
		if _, ok := asMap(o.Doc["spec"])["replicas"]; ok && o.kind() == "Deployment" {
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
			t.Errorf("%s: want one service per workload, got --target %v", o, targets)
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
		// Variables outside INTAKE_ only to be expanded into others ($(NAME)).
		expanded := map[string]bool{}
		for _, e := range asList(c["env"]) {
			for _, m := range envRef.FindAllStringSubmatch(asString(dig(e, "value")), -1) {
				expanded[m[1]] = !strings.HasPrefix(m[1], "INTAKE_")
			}
		}
		for _, n := range names {
			if !envOK[n] && !expanded[n] {
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
	want := app.Services()
	sort.Strings(want)
	if !slices.Equal(served, want) {
		t.Errorf("the Deployments and StatefulSets run %v, want one per service: %v", served, want)
	}

	// Autoscalers, disruption budgets and Services point at real pods.
	hpaFor := map[string]k8sObject{}
	pdbFor := map[string]bool{}
	for _, o := range objs {
		switch o.kind() {
		case "HorizontalPodAutoscaler":
			ref := asMap(dig(o.Doc, "spec", "scaleTargetRef"))
			// Not a StatefulSet: its pods' --instance-count must change with
			// its replicas (TestKubernetesPartitionedStatefulSets).
			if target := deployments[asString(ref["name"])]; ref["kind"] != "Deployment" || target.kind() != "Deployment" {
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
				t.Errorf("%s: selector %v matches %d workloads, want 1", o, sel, matched)
			}
		case "Service":
			sel := asMap(dig(o.Doc, "spec", "selector"))
			matched := false
			for _, labels := range podLabels {
				matched = matched || labelsMatch(sel, labels)
			}
			if !matched {
				t.Errorf("%s: selector %v matches no workload's pods", o, sel)
			}
			for _, p := range asList(dig(o.Doc, "spec", "ports")) {
				if tp := fmt.Sprint(dig(p, "targetPort")); tp != "8080" && tp != "http" {
					t.Errorf("%s: targetPort %s, want 8080 (http)", o, tp)
				}
			}
		}
	}
	for d, svc := range serviceOf {
		if _, ok := hpaFor[d]; !ok && deployments[d].kind() == "Deployment" {
			t.Errorf("Deployment %s (%s) has no HorizontalPodAutoscaler", d, svc)
		}
		if !pdbFor[d] {
			t.Errorf("%s (%s) has no PodDisruptionBudget", deployments[d], svc)
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

// flagValue returns the value of --name=value among a command's args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestKubernetesPartitionedStatefulSets checks that the partitioned stages
// run as StatefulSets whose pods spread the partitions: each pod's
// --instance-index is its ordinal (the pod-index label through the downward
// API), --instance-count equals replicas, the pods start together, the
// governing Service is a headless one selecting them, and no autoscaler
// changes the count behind the pods' --instance-count.
func TestKubernetesPartitionedStatefulSets(t *testing.T) {
	const podIndex = "metadata.labels['apps.kubernetes.io/pod-index']"
	partitioned := []string{"validator", "deduplicator", "writer", "reporter"}
	objs := loadK8s(t)
	services := map[string]k8sObject{}
	for _, o := range objs {
		if o.kind() == "Service" {
			services[o.name()] = o
		}
	}
	runs := map[string]k8sObject{} // partitioned stage -> the workload running it
	for _, o := range objs {
		if !o.workload() {
			continue
		}
		c := asMap(asList(dig(o.Doc, "spec", "template", "spec", "containers"))[0])
		args := stringList(c["args"])
		targets, err := targetOf(args)
		if err != nil || len(targets) != 1 || !slices.Contains(partitioned, targets[0]) {
			continue // TestKubernetesManifests reports bad targets
		}
		runs[targets[0]] = o
		if o.kind() != "StatefulSet" {
			t.Errorf("%s runs the partitioned %s: want a StatefulSet (a Deployment gives its pods no ordinal for --instance-index, so every pod owns every partition)", o, targets[0])
			continue
		}
		spec := asMap(o.Doc["spec"])
		replicas, ok := spec["replicas"].(int)
		if !ok || replicas < 2 {
			t.Errorf("%s: replicas %v, want at least 2 (one pod has no standby for its partitions)", o, spec["replicas"])
		}
		if count, _ := flagValue(args, "instance-count"); count != fmt.Sprint(replicas) {
			t.Errorf("%s: --instance-count=%s with replicas %v: want them equal (a larger count leaves partitions no pod owns, taken only as orphans after --pinned-ttl; a smaller one gives two pods the same ones)", o, count, spec["replicas"])
		}
		if index, _ := flagValue(args, "instance-index"); index != "$(INTAKE_INSTANCE_INDEX)" {
			t.Errorf("%s: --instance-index=%s, want $(INTAKE_INSTANCE_INDEX), the pod's ordinal", o, index)
		}
		var indexFrom any
		for _, e := range asList(c["env"]) {
			if asString(dig(e, "name")) == "INTAKE_INSTANCE_INDEX" {
				indexFrom = dig(e, "valueFrom", "fieldRef", "fieldPath")
			}
		}
		if indexFrom != podIndex {
			t.Errorf("%s: INTAKE_INSTANCE_INDEX from %v, want the downward API's %s", o, indexFrom, podIndex)
		}
		if p := spec["podManagementPolicy"]; p != "Parallel" {
			t.Errorf("%s: podManagementPolicy %v, want Parallel (no pod waits for another's readiness)", o, p)
		}
		svc := services[asString(spec["serviceName"])]
		podLabels := asMap(dig(spec, "template", "metadata", "labels"))
		switch {
		case svc.Doc == nil:
			t.Errorf("%s: serviceName %q is no Service of the manifests", o, spec["serviceName"])
		case dig(svc.Doc, "spec", "clusterIP") != "None":
			t.Errorf("%s: governing Service %s is not headless", o, svc)
		case !labelsMatch(asMap(dig(svc.Doc, "spec", "selector")), podLabels):
			t.Errorf("%s: governing Service %s does not select its pods", o, svc)
		}
	}
	for _, stage := range partitioned {
		if _, ok := runs[stage]; !ok {
			t.Errorf("no Deployment or StatefulSet runs %s", stage)
		}
	}
	for _, o := range objs {
		if o.kind() != "HorizontalPodAutoscaler" {
			continue
		}
		ref := asMap(dig(o.Doc, "spec", "scaleTargetRef"))
		for stage, w := range runs {
			if ref["name"] == w.name() {
				t.Errorf("%s scales %s (%s): its replicas must change with every pod's --instance-count", o, w, stage)
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
	for _, s := range app.Services() {
		if _, ok := targets[s]; !ok {
			t.Errorf("%s: no container runs --target=%s", composeFile, s)
		}
	}
	if len(intake) != len(app.Services()) {
		t.Errorf("%s: %d Intake containers %v, want one per service (%d)", composeFile, len(intake), intake, len(app.Services()))
	}
}

// natsSecret is the Secret holding the NATS users' passwords, for the NATS
// servers (nats-values.yaml's container.env) and the Intake Deployments.
const natsSecret = "intake-nats"

// natsValues reads nats-values.yaml.
func natsValues(t *testing.T) map[string]any {
	t.Helper()
	docs := readYAMLDocs(t, filepath.Join(k8sDir, "nats-values.yaml"))
	if len(docs) != 1 {
		t.Fatalf("nats-values.yaml: want one document, got %d", len(docs))
	}
	return docs[0]
}

// chartRawValue is the chart's nats.formatConfig rule for a string written
// unquoted into nats.conf: "<< $NAME >>" becomes the variable $NAME.
var chartRawValue = regexp.MustCompile(`"<<\s+(.*?)\s+>>"`)

// renderNATSConf renders a map the way the NATS chart writes nats.conf: as
// JSON without HTML escapes (toPrettyRawJson), "<< x >>" strings unquoted.
func renderNATSConf(t *testing.T, conf map[string]any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(conf); err != nil {
		t.Fatalf("render nats.conf: %v", err)
	}
	return chartRawValue.ReplaceAllString(buf.String(), "${1}")
}

// mergeKeys returns the union of two maps' keys.
func mergeKeys(a, b map[string]any) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

// natsPasswordEnv returns the NATS container's variables from the Secret
// intake-nats (container.env of the values), by variable: the Secret's key.
func natsPasswordEnv(t *testing.T, values map[string]any) map[string]string {
	t.Helper()
	keys := map[string]string{}
	for name, v := range asMap(dig(values, "container", "env")) {
		ref := asMap(dig(v, "valueFrom", "secretKeyRef"))
		if asString(ref["name"]) != natsSecret || asString(ref["key"]) == "" {
			t.Errorf("nats-values.yaml: container.env %s is not from a key of the Secret %s: %v", name, natsSecret, v)
			continue
		}
		keys[name] = asString(ref["key"])
	}
	return keys
}

// natsVariable matches a value of a rendered nats.conf that is a variable.
var natsVariable = regexp.MustCompile(`:\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*[,\n}]`)

// natsVariables lists the $NAME variables of a rendered nats.conf.
func natsVariables(conf string) []string {
	var names []string
	for _, m := range natsVariable.FindAllStringSubmatch(conf, -1) {
		names = append(names, m[1])
	}
	return names
}

// renderedNATSAuth renders nats-values.yaml's config.merge (what the chart
// merges verbatim into the top level of nats.conf, the accounts with it) to
// a file, with every password variable set in the environment as the
// Secret's key prefixed with "nats-". It returns the file's path.
func renderedNATSAuth(t *testing.T, values map[string]any) string {
	t.Helper()
	merge := asMap(dig(values, "config", "merge"))
	if merge["accounts"] == nil || merge["system_account"] != "SYS" {
		t.Fatalf("nats-values.yaml: config.merge has no accounts or system_account SYS: %v", sortedKeys(merge))
	}
	conf := map[string]any{}
	for k, v := range merge {
		conf[k] = v
	}
	// The chart renders config.jetstream into this block; the store is the test's.
	conf["jetstream"] = map[string]any{"store_dir": t.TempDir()}
	rendered := renderNATSConf(t, conf)

	env := natsPasswordEnv(t, values)
	vars := natsVariables(rendered)
	if len(vars) == 0 {
		t.Fatalf("rendered nats.conf refers to no password variable:\n%s", rendered)
	}
	for _, v := range vars {
		if _, ok := env[v]; !ok {
			t.Errorf("nats-values.yaml: $%s is not set by container.env from the Secret %s (nats-server would refuse the config)", v, natsSecret)
		}
	}
	for name, key := range env {
		t.Setenv(name, "nats-"+key)
	}
	return testenv.WriteFile(t, "nats.conf", []byte(rendered))
}

// startNATS starts nats-server with opts on a random loopback port until the
// test ends.
func startNATS(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	return natstest.Start(t, opts)
}

// TestKubernetesNATSAccounts checks the NATS authorization of the Kubernetes
// deployment: nats-values.yaml renders the accounts of
// deploy/nats/accounts.conf (the globex example aside), with passwords only
// from the Secret, and a nats-server started from it refuses anonymous and
// wrong credentials and confines the tenant and upstream users.
func TestKubernetesNATSAccounts(t *testing.T) {
	values := natsValues(t)
	path := renderedNATSAuth(t, values)

	// No literal password: every user's password is a variable.
	for acc, a := range asMap(dig(values, "config", "merge", "accounts")) {
		for _, u := range asList(dig(a, "users")) {
			if pw := asString(dig(u, "password")); !chartRawValue.MatchString(`"`+pw+`"`) || !strings.Contains(pw, "$") {
				t.Errorf("nats-values.yaml: account %s user %v: password %q, want << $VARIABLE >> (from the Secret %s)", acc, dig(u, "user"), pw, natsSecret)
			}
		}
	}

	// The same accounts as accounts.conf, as nats-server parses them (with
	// the same passwords in the environment).
	const accountsConf = "../../../deploy/nats/accounts.conf"
	t.Setenv("GLOBEX_NATS_PASSWORD", "nats-globex") // the second example tenant of accounts.conf
	fromValues, err := conf.ParseFile(path)
	if err != nil {
		t.Fatalf("the rendered nats.conf does not parse: %v", err)
	}
	fromConf, err := conf.ParseFile(accountsConf)
	if err != nil {
		t.Fatalf("%s: %v", accountsConf, err)
	}
	wantAccounts := asMap(fromConf["accounts"])
	delete(wantAccounts, "globex")
	gotAccounts := asMap(fromValues["accounts"])
	for _, name := range sortedKeys(mergeKeys(gotAccounts, wantAccounts)) {
		if g, w := gotAccounts[name], wantAccounts[name]; !reflect.DeepEqual(g, w) {
			t.Errorf("account %s: nats-values.yaml renders\n%s\nbut %s has (globex aside)\n%s", name, renderNATSConf(t, asMap(g)), accountsConf, renderNATSConf(t, asMap(w)))
		}
	}
	if fromValues["system_account"] != fromConf["system_account"] {
		t.Errorf("system_account %v, accounts.conf has %v", fromValues["system_account"], fromConf["system_account"])
	}

	// And as nats-server loads them: each user in its account with the same
	// permissions.
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server refuses the rendered nats.conf: %v", err)
	}
	if opts.MaxPayload != 8<<20 {
		t.Errorf("max_payload %d, want 8 MiB", opts.MaxPayload)
	}
	confOpts, err := server.ProcessConfigFile(accountsConf)
	if err != nil {
		t.Fatal(err)
	}
	users := func(o *server.Options) map[string]*server.User {
		m := map[string]*server.User{}
		for _, u := range o.Users {
			m[u.Username] = u
		}
		return m
	}
	got, want := users(opts), users(confOpts)
	for _, name := range []string{"intake", "upstream", "acme", "sys"} {
		g, w := got[name], want[name]
		switch {
		case g == nil || w == nil:
			t.Errorf("user %s: in the values %v, in accounts.conf %v", name, g != nil, w != nil)
		case g.Account.GetName() != w.Account.GetName():
			t.Errorf("user %s in account %s, accounts.conf has %s", name, g.Account.GetName(), w.Account.GetName())
		case !reflect.DeepEqual(g.Permissions, w.Permissions):
			t.Errorf("user %s: permissions %+v, accounts.conf has %+v", name, g.Permissions, w.Permissions)
		}
	}
	if p := got["upstream"].Permissions; p == nil || p.Response == nil || p.Publish == nil || slices.Contains(p.Publish.Allow, ">") {
		t.Errorf("user upstream is not restricted: %+v", p)
	}

	// A server started from it.
	url := startNATS(t, opts).ClientURL()

	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("an anonymous client connected: anything in the cluster could read every tenant's rows")
	}
	if nc, err := nats.Connect(url, nats.UserInfo("intake", "wrong")); err == nil {
		nc.Close()
		t.Error("user intake connected with a wrong password")
	}
	connect := func(user, secretKey string) *nats.Conn {
		t.Helper()
		nc, err := nats.Connect(url, nats.UserInfo(user, "nats-"+secretKey))
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// intake: JetStream in account INTAKE, where the rows stream lives.
	svc := connect("intake", "intake-password")
	svcJS, err := jetstream.New(svc)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := svcJS.CreateStream(ctx, jetstream.StreamConfig{Name: "INTAKE_ROWS", Subjects: []string{"intake.rows.>"}})
	if err != nil {
		t.Fatalf("user intake creating a stream: %v", err)
	}

	// acme: its own rows are stored (and acknowledged back to it), but it
	// has no JetStream API of its own to purge or read the stream with.
	acme := connect("acme", "acme-password")
	acmeJS, err := jetstream.New(acme)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acmeJS.Publish(ctx, "intake.rows.acme.imp_1", []byte(`{}`)); err != nil {
		t.Errorf("acme publishing its own rows: %v", err)
	}
	if _, err := acmeJS.Stream(ctx, "INTAKE_ROWS"); err == nil {
		t.Error("acme reached INTAKE's JetStream API")
	}
	if err := acme.Publish("intake.rows.globex.imp_2", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := acme.Flush(); err != nil {
		t.Fatal(err)
	}
	if info, err := rows.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Errorf("INTAKE_ROWS holds %v messages (%v), want acme's one chunk only", info, err)
	}

	// upstream: may not publish rows, nor delete the stream.
	up := connect("upstream", "upstream-password")
	denied := make(chan error, 4)
	up.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { denied <- err })
	if err := up.Publish("intake.rows.acme.imp_1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-denied:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("upstream publishing rows: %v, want a permissions violation", err)
		}
	case <-ctx.Done():
		t.Error("upstream published rows without a permissions violation")
	}
	upJS, err := jetstream.New(up)
	if err != nil {
		t.Fatal(err)
	}
	// Refused by its permissions, the request gets no answer: bound the wait.
	delCtx, delCancel := context.WithTimeout(ctx, 2*time.Second)
	defer delCancel()
	if err := upJS.DeleteStream(delCtx, "INTAKE_ROWS"); err == nil {
		t.Error("upstream deleted INTAKE_ROWS")
	}
	if _, err := rows.Info(ctx); err != nil {
		t.Errorf("INTAKE_ROWS after upstream's attempt: %v", err)
	}
}

// envRef matches a Kubernetes $(VAR) reference in an env value.
var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// TestKubernetesNATSCredentials checks that every Intake Deployment connects
// to NATS as its user of nats-values.yaml, "upstream" for the upstream
// target and "intake" for every other, with the password from the same key
// of the Secret intake-nats that the NATS servers read for that user, and
// that no credential-less URL is left in the ConfigMap.
func TestKubernetesNATSCredentials(t *testing.T) {
	values := natsValues(t)
	// user of account INTAKE -> the Secret key of its password, through the
	// variable its password refers to and the NATS container's env.
	passwordEnv := natsPasswordEnv(t, values)
	secretKeyOf := map[string]string{}
	for _, u := range asList(dig(values, "config", "merge", "accounts", "INTAKE", "users")) {
		m := chartRawValue.FindStringSubmatch(`"` + asString(dig(u, "password")) + `"`)
		if m == nil || !strings.HasPrefix(m[1], "$") {
			t.Fatalf("nats-values.yaml: INTAKE user %v has no password variable", dig(u, "user"))
		}
		secretKeyOf[asString(dig(u, "user"))] = passwordEnv[strings.TrimPrefix(m[1], "$")]
	}

	objs := loadK8s(t)
	configData := map[string]map[string]any{}
	for _, o := range objs {
		if o.kind() == "ConfigMap" {
			configData[o.name()] = asMap(o.Doc["data"])
			if url, ok := configData[o.name()]["INTAKE_NATS_URL"]; ok {
				t.Errorf("%s: INTAKE_NATS_URL %v: the Deployments set it with their user and password (the env entry would hide it anyway)", o, url)
			}
		}
	}
	// nats://<user>:$(<password variable>)@<address>
	natsURL := regexp.MustCompile(`^nats://([a-z]+):\$\(([A-Za-z_][A-Za-z0-9_]*)\)@(.+)$`)
	checked := 0
	for _, o := range objs {
		if !o.workload() {
			continue
		}
		c := asMap(asList(dig(o.Doc, "spec", "template", "spec", "containers"))[0])
		targets, err := targetOf(stringList(c["args"]))
		if err != nil || len(targets) != 1 {
			continue // TestKubernetesManifests reports it
		}
		wantUser := "intake"
		if targets[0] == "upstream" {
			wantUser = "upstream"
		}
		// What the container's environment defines, in order: the ConfigMaps
		// first (envFrom), then env.
		defined := map[string]any{}
		for _, ef := range asList(c["envFrom"]) {
			for k, v := range configData[asString(dig(ef, "configMapRef", "name"))] {
				defined[k] = v
			}
		}
		var url string
		found := false
		for _, e := range asList(c["env"]) {
			name := asString(dig(e, "name"))
			if name != "INTAKE_NATS_URL" {
				defined[name] = e
				continue
			}
			found = true
			if dig(e, "valueFrom") != nil {
				t.Errorf("%s: INTAKE_NATS_URL from valueFrom: want nats://%s:$(PASSWORD_VARIABLE)@address", o, wantUser)
				break
			}
			url = asString(dig(e, "value"))
			m := natsURL.FindStringSubmatch(url)
			if m == nil {
				t.Errorf("%s: INTAKE_NATS_URL %q, want nats://%s:$(PASSWORD_VARIABLE)@address (the password from the Secret %s)", o, url, wantUser, natsSecret)
				break
			}
			user, pwVar, addr := m[1], m[2], m[3]
			if user != wantUser {
				t.Errorf("%s (--target=%s): connects to NATS as %q, want %q", o, targets[0], user, wantUser)
			}
			ref := asMap(dig(defined[pwVar], "valueFrom", "secretKeyRef"))
			switch {
			case defined[pwVar] == nil:
				t.Errorf("%s: INTAKE_NATS_URL refers to $(%s), which is not defined before it (Kubernetes would pass it literally)", o, pwVar)
			case asString(ref["name"]) != natsSecret:
				t.Errorf("%s: %s is not from the Secret %s: %v", o, pwVar, natsSecret, defined[pwVar])
			case secretKeyOf[user] == "":
				t.Errorf("%s: user %q is no user of account INTAKE in nats-values.yaml", o, user)
			case asString(ref["key"]) != secretKeyOf[user]:
				t.Errorf("%s: %s from key %q of %s, but the NATS servers read user %s's password from key %q", o, pwVar, ref["key"], natsSecret, user, secretKeyOf[user])
			case ref["optional"] == true:
				t.Errorf("%s: %s is optional: without it the URL would carry the literal $(%s)", o, pwVar, pwVar)
			}
			for _, r := range envRef.FindAllStringSubmatch(addr, -1) {
				if _, ok := defined[r[1]].(string); !ok {
					t.Errorf("%s: INTAKE_NATS_URL's address refers to $(%s), which no ConfigMap of envFrom defines", o, r[1])
				}
			}
			if resolved := envRef.ReplaceAllStringFunc(addr, func(s string) string { return asString(defined[envRef.FindStringSubmatch(s)[1]]) }); resolved != "nats:4222" {
				t.Errorf("%s: INTAKE_NATS_URL's address is %q, want the chart's client Service nats:4222", o, resolved)
			}
		}
		if !found {
			t.Errorf("%s: no INTAKE_NATS_URL in env (user %s, password from the Secret %s)", o, wantUser, natsSecret)
		}
		checked++
	}
	if checked != len(app.Services()) {
		t.Errorf("checked %d Deployments and StatefulSets, want one per service (%d)", checked, len(app.Services()))
	}
}

// TestKubernetesNATSRoutePolicy checks the NetworkPolicy of nats-values.yaml:
// the route port, which has no authorization, is reachable only from the NATS
// servers, while the client, monitoring and exporter ports stay open.
func TestKubernetesNATSRoutePolicy(t *testing.T) {
	// The chart's selector labels of its server pods (release "nats").
	natsPods := map[string]any{"app.kubernetes.io/name": "nats", "app.kubernetes.io/component": "nats"}
	var policies []map[string]any
	for _, r := range asList(natsValues(t)["extraResources"]) {
		if asString(dig(r, "kind")) == "NetworkPolicy" {
			policies = append(policies, asMap(r))
		}
	}
	if len(policies) != 1 {
		t.Fatalf("nats-values.yaml: %d NetworkPolicies in extraResources, want 1 (the route port)", len(policies))
	}
	p := policies[0]
	if sel := asMap(dig(p, "spec", "podSelector", "matchLabels")); !reflect.DeepEqual(sel, natsPods) {
		t.Errorf("NetworkPolicy selects %v, want the NATS server pods %v", sel, natsPods)
	}
	if types := stringList(dig(p, "spec", "policyTypes")); !slices.Equal(types, []string{"Ingress"}) {
		t.Errorf("policyTypes %v, want [Ingress]", types)
	}
	// port -> whether it is open to every peer, and whether only to the NATS pods.
	fromAnywhere, fromNATS := map[string]bool{}, map[string]bool{}
	for _, rule := range asList(dig(p, "spec", "ingress")) {
		from := asList(dig(rule, "from"))
		onlyNATS := len(from) > 0
		for _, f := range from {
			onlyNATS = onlyNATS && len(asMap(f)) == 1 && reflect.DeepEqual(asMap(dig(f, "podSelector", "matchLabels")), natsPods)
		}
		ports := asList(dig(rule, "ports"))
		if len(ports) == 0 {
			t.Errorf("ingress rule %v opens every port", rule)
		}
		for _, port := range ports {
			n := fmt.Sprint(dig(port, "port"))
			switch {
			case len(from) == 0:
				fromAnywhere[n] = true
			case onlyNATS:
				fromNATS[n] = true
			default:
				t.Errorf("ingress rule %v opens port %s to peers other than the NATS pods", rule, n)
			}
		}
	}
	if fromAnywhere["6222"] || !fromNATS["6222"] {
		t.Errorf("route port 6222: open to all %v, to the NATS pods %v; want only the NATS pods", fromAnywhere["6222"], fromNATS["6222"])
	}
	for _, port := range []string{"4222", "8222", "7777"} { // clients, probes and monitoring, exporter
		if !fromAnywhere[port] {
			t.Errorf("port %s is not open: clients, the chart's probes or Prometheus would be cut off", port)
		}
	}
}

// TestKubernetesNATSUsersRunIntake runs Intake as the Deployments do against
// a nats-server started from nats-values.yaml: every service but upstream as
// user intake, the upstream target as user upstream, each of them ready
// (GET /readyz 200, the readiness probe of its pods).
func TestKubernetesNATSUsersRunIntake(t *testing.T) {
	values := natsValues(t)
	opts, err := server.ProcessConfigFile(renderedNATSAuth(t, values))
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(startNATS(t, opts).ClientURL(), "nats://")
	ferret, _ := ferrettest.Start(t, "")

	run := func(user string, targets []string) app.Info {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		ready, done := make(chan app.Info, 1), make(chan error, 1)
		go func() {
			done <- app.Run(ctx, app.Config{
				Targets: targets, NATSURL: fmt.Sprintf("nats://%s:nats-%s-password@%s", user, user, addr),
				MongoURI: ferret.URI(), DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
				Ready: func(i app.Info) { ready <- i },
			}, zap.NewNop())
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("intake %v: %v", targets, err)
			}
		})
		select {
		case info := <-ready:
			return info
		case err := <-done:
			t.Fatalf("intake %v as NATS user %s did not start: %v", targets, user, err)
		case <-time.After(90 * time.Second):
			t.Fatalf("intake %v as NATS user %s did not start within 90s", targets, user)
		}
		return app.Info{}
	}
	var others []string
	for _, s := range app.Services() {
		if s != "upstream" {
			others = append(others, s)
		}
	}
	for _, i := range []struct {
		user    string
		targets []string
	}{{"intake", others}, {"upstream", []string{"upstream"}}} {
		info := run(i.user, i.targets)
		url := "http://" + info.HTTPAddr + "/readyz"
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("intake %v as NATS user %s: GET /readyz %d %s: its pods would never be ready", i.targets, i.user, resp.StatusCode, bytes.TrimSpace(body))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
