package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeysFile is where the all-in-one keeps the keys it made, in its data
// folder, so that every start prints the same dev API key and admin key.
const KeysFile = "keys.json"

type devKeys struct {
	DevAPIKey string `json:"devApiKey"`
	AdminKey  string `json:"adminKey"`
	// ConsoleSecret signs the console's sessions and its sign-in link, so
	// that both outlive a restart.
	ConsoleSecret string `json:"consoleSecret"`
}

// lastingKeys fills the dev API key and the admin key the options leave
// empty: from the data folder's keys file, or new ones, which it saves
// there (mode 0600). A key given as an option is used for this run and not
// saved.
func lastingKeys(dataDir string, o *Options) error {
	path := filepath.Join(dataDir, KeysFile)
	var k devKeys
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("%s: %w (remove it to make new keys)", path, err)
		}
		if k.DevAPIKey != "" && !strings.HasPrefix(k.DevAPIKey, "sk_test_") || k.AdminKey != "" && len(k.AdminKey) < 16 {
			return fmt.Errorf("%s: not keys this program wrote (remove it to make new keys)", path)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	changed := false
	if k.DevAPIKey == "" {
		k.DevAPIKey, changed = randomKey("sk_test_"), true
	}
	if k.AdminKey == "" {
		k.AdminKey, changed = randomKey("adm_"), true
	}
	if len(k.ConsoleSecret) < 32 {
		k.ConsoleSecret, changed = randomKey("cs_"), true
	}
	if changed {
		out, _ := json.MarshalIndent(k, "", "  ")
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, append(out, '\n'), 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	if o.DevAPIKey == "" {
		o.DevAPIKey = k.DevAPIKey
	}
	if o.AdminKey == "" {
		o.AdminKey = k.AdminKey
	}
	o.consoleSecret = []byte(k.ConsoleSecret)
	return nil
}
