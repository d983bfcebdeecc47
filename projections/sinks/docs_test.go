package sinks

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// snippet returns the first fenced code block of the given language in
// docs/events-out.md.
func snippet(t *testing.T, lang string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events-out.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```").FindStringSubmatch(string(doc))
	if m == nil {
		t.Fatalf("docs/events-out.md has no %s snippet", lang)
	}
	return m[1]
}

// TestDocsVerificationSnippets runs the Go, Node and Python verification
// code of docs/events-out.md, as a client app would, against a delivery
// signed by Sign: the right secret verifies; another secret, a changed
// body or an old timestamp does not.
func TestDocsVerificationSnippets(t *testing.T) {
	dir := t.TempDir()
	programs := []struct {
		lang, tool, file string
		args             []string
		wrap             func(code string) string
	}{
		{"go", "go", "main.go", []string{"run"}, func(code string) string {
			return "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\n" + code +
				"\nfunc main() {\n\tbody, _ := os.ReadFile(os.Getenv(\"BODY_FILE\"))\n\tfmt.Println(map[bool]string{true: \"ok\", false: \"bad\"}[verifyTally(os.Getenv(\"SECRET\"), os.Getenv(\"HEADER\"), body)])\n}\n"
		}},
		{"js", "node", "verify.js", nil, func(code string) string {
			return code + "\nconsole.log(verifyTally(process.env.SECRET, process.env.HEADER, require(\"node:fs\").readFileSync(process.env.BODY_FILE)) ? \"ok\" : \"bad\");\n"
		}},
		{"python", "python3", "verify.py", nil, func(code string) string {
			return code + "\n\nimport os\nprint(\"ok\" if verify_tally(os.environ[\"SECRET\"], os.environ[\"HEADER\"], open(os.environ[\"BODY_FILE\"], \"rb\").read()) else \"bad\")\n"
		}},
	}
	body := []byte(`{"position":7,"id":"evt_01","book":"main","type":"transfer.completed","data":{"note":"ünïcode <&>"}}`)
	secret := newSecret()
	now := time.Now()
	cases := []struct {
		name           string
		secret, header string
		body           []byte
		want           string
	}{
		{"the subscription's secret verifies", secret, Sign(secret, now, body), body, "ok"},
		{"another secret does not", newSecret(), Sign(secret, now, body), body, "bad"},
		{"a changed body does not", secret, Sign(secret, now, body), append([]byte(" "), body...), "bad"},
		{"a delivery signed 10 minutes ago does not", secret, Sign(secret, now.Add(-10*time.Minute), body), body, "bad"},
	}
	for _, p := range programs {
		t.Run(p.lang, func(t *testing.T) {
			tool, err := exec.LookPath(p.tool)
			if err != nil {
				t.Skipf("%s is not installed: the %s snippet is not run", p.tool, p.lang)
			}
			sub := filepath.Join(dir, p.lang)
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(sub, p.file)
			if err := os.WriteFile(file, []byte(p.wrap(snippet(t, p.lang))), 0o644); err != nil {
				t.Fatal(err)
			}
			if p.lang == "go" { // build once, run four times
				bin := filepath.Join(sub, "verify")
				cmd := exec.Command(tool, "build", "-o", bin, file)
				cmd.Env = append(os.Environ(), "GO111MODULE=off")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("the Go snippet does not build: %v\n%s", err, out)
				}
				tool, file = bin, ""
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					bodyFile := filepath.Join(sub, "body")
					if err := os.WriteFile(bodyFile, c.body, 0o644); err != nil {
						t.Fatal(err)
					}
					var args []string
					if file != "" {
						args = []string{file}
					}
					cmd := exec.Command(tool, args...)
					cmd.Env = append(os.Environ(), "SECRET="+c.secret, "HEADER="+c.header, "BODY_FILE="+bodyFile)
					out, err := cmd.CombinedOutput()
					if err != nil || strings.TrimSpace(string(out)) != c.want {
						t.Fatalf("printed %q (%v), want %q", out, err, c.want)
					}
				})
			}
		})
	}
}
