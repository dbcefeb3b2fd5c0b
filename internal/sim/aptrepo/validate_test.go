package aptrepo

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidatePackageName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"demo-libssl": true, "docker.io": true, "libstdc++6": true, "g++": true, "0ad": true,
		"a": false, "Demo": false, "-x": false, ".x": false, "x y": false, "x;rm": false, "x\nEvil: 1": false, "": false,
	} {
		err := ValidatePackageName(name)
		assert.Equal(t, ok, err == nil, "%q: %v", name, err)
		if err != nil {
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", name))
		}
	}
}

func TestValidateVersion(t *testing.T) {
	t.Parallel()
	for v, ok := range map[string]bool{
		"1.0-1": true, "1.0-1+deb12u1": true, "20.10.24+dfsg1-1+deb12u1+b6": true, "1:2.3~rc1-0.1": true,
		"1.0": true, "2.0-1-2": true, "1.6.20~ds1-1+deb12u3": true,
		"": false, "a1.0": false, "1.0-": false, "1.0 -1": false, "1:": false, "1.0_1": false,
		"1.0;ls": false, "1.0\n": false, "x:1.0": false, "1.0:1-1": false, "$(id)": false,
	} {
		err := ValidateVersion(v)
		assert.Equal(t, ok, err == nil, "%q: %v", v, err)
	}
}

func TestValidateRelations(t *testing.T) {
	t.Parallel()
	for rel, ok := range map[string]bool{
		"libc6": true, "libc6 (>= 2.36)": true, "aa | bb (<< 2)": true, "python3:any": true, "xx (= 1:2.0-1)": true,
		"libc6 (=> 2)": false, "Bad": false, "a,b": false, "x (>= 1)\nEvil: y": false, "": false,
	} {
		err := ValidateRelations("depends", []string{rel})
		assert.Equal(t, ok, err == nil, "%q: %v", rel, err)
	}
}

func TestPoolDir(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "pool/main/d/docker.io", poolDir("docker.io"))
	assert.Equal(t, "pool/main/libs/libssl3", poolDir("libssl3"))
	assert.Equal(t, "pool/main/l/lib", poolDir("lib"))
	assert.Equal(t, "1.0-1", debFileVersion("2:1.0-1"))
}
