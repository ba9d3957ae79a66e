package devconf

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestSecretKey(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"password": true, "Password": true, "passwd": true, "mqtt_passphrase": true,
		"secret": true, "client_secret": true, "token": true, "api_key": true, "apiKey": true,
		"credentials": true, "private_key": true, "psk": true,
		"password_file": false, "key_file": false, "secret_path": false, "token_dir": false,
		"username": false, "broker": false, "key": false, "pin": false,
	} {
		if got := SecretKey(name); got != want {
			t.Errorf("SecretKey(%q) = %v, want %v", name, got, want)
		}
	}
}

// Scrub masks every form a message may quote a secret in, longest first,
// and leaves short values alone.
func TestSecretsScrub(t *testing.T) {
	t.Parallel()
	var s Secrets
	s.Add("S3cr3t-Pa55")
	s.Add(`qu"ote\d-pw`)
	s.Add("S3cr3t") // inside the first: masked there as part of it
	s.Add("mqtt")   // too short to scrub
	for _, tc := range []struct{ in, want string }{
		{"a S3cr3t-Pa55 b", "a ***** b"},
		{`got "S3cr3t-Pa55"`, `got "*****"`},
		{`got "qu\"ote\\d-pw"`, `got "*****"`},
		{`got qu"ote\d-pw`, `got *****`},
		{"S3cr3t alone", "***** alone"},
		{"mqtt.password: x", "mqtt.password: x"},
	} {
		if got := s.Scrub(tc.in); got != tc.want {
			t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A syntax error on a secret's line never quotes the value, neither in
// the hint nor through toml's message, and errors.As still finds toml's
// error.
func TestParseSyntaxErrorHidesSecret(t *testing.T) {
	t.Parallel()
	const secret = "S3cr3t-Pa55"
	for _, line := range []string{
		"password = S3cr3t-Pa55",
		"password = S3cr3t-Pa55 # mine",
		`password = "S3cr3t-Pa55`,
		`password = "S3cr3t\qPa55"`,
		"password = 1979-05-27T07:3S3cr3t-Pa55",
		"password = 123456789012345678901234567",
		`api_token = S3cr3t-Pa55`,
		`"pass.word" = S3cr3t-Pa55`,
	} {
		doc := "[mqtt]\nusername = \"u\"\n" + line + "\n"
		_, _, err := Parse("c.toml", []byte(doc))
		if err == nil {
			t.Fatalf("%s: no error", line)
		}
		msg := err.Error()
		for _, part := range []string{secret, secret[:5], "12345678901"} {
			if strings.Contains(msg, part) {
				t.Errorf("%s: the error quotes %q: %s", line, part, msg)
			}
		}
		if !strings.HasPrefix(msg, "c.toml:3: ") {
			t.Errorf("%s: error %q is not at c.toml:3", line, msg)
		}
		if errors.As(err, new(toml.ParseError)) {
			continue
		}
		t.Errorf("%s: errors.As finds no toml.ParseError in %v", line, err)
	}
	// A key that is no secret still gets its value quoted back.
	_, _, err := Parse("c.toml", []byte("[mqtt]\nbroker = tcp\n"))
	if err == nil || !strings.Contains(err.Error(), `broker = "tcp"`) {
		t.Errorf("a plain key's hint: %v", err)
	}
}

// Type errors name the type of a secret's value, not the value; and every
// problem is scrubbed of the document's secrets, whatever wrote it.
func TestProblemsHideSecrets(t *testing.T) {
	t.Parallel()
	doc := "[mqtt]\npassword = 123456789\ntoken = \"S3cr3t-Pa55\"\nname = 17\n[dev.credentials]\nx = \"An0ther-S3cret\"\n"
	root, d, err := Parse("c.toml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	mq := Table{Doc: d, Path: Path{"mqtt"}, M: root["mqtt"].(map[string]any)}
	mq.Str("password")
	mq.Bool("token")
	mq.Str("name")
	d.Add(Path{"mqtt", "token"}, errors.New("driver says S3cr3t-Pa55 and An0ther-S3cret"), "driver says S3cr3t-Pa55 and An0ther-S3cret")
	d.AddSecret("fr0m-a-f1le")
	d.Add(Path{"mqtt"}, nil, "file held fr0m-a-f1le")
	got := d.Err().Error()
	for _, part := range []string{"123456789", "S3cr3t-Pa55", "An0ther-S3cret", "fr0m-a-f1le"} {
		if strings.Contains(got, part) {
			t.Errorf("problems quote %q:\n%s", part, got)
		}
	}
	for _, want := range []string{
		"c.toml:2: mqtt.password: must be a string, not an integer\n",
		"c.toml:3: mqtt.token: must be a boolean (true or false), not a string\n",
		"c.toml:4: mqtt.name: must be a string, not an integer (17)\n",
		"driver says ***** and *****",
	} {
		if !strings.Contains(got+"\n", want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	var ce *ConfigError
	if !errors.As(d.Err(), &ce) {
		t.Fatal("not a ConfigError")
	}
	for _, p := range ce.Problems {
		if p.Err != nil && strings.Contains(p.Err.Error(), "S3cr3t-Pa55") {
			t.Errorf("the underlying error of %q quotes the secret: %v", p.Key, p.Err)
		}
	}
}
