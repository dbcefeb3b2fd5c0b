package aptrepo

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseParagraphsRoundTrip(t *testing.T) {
	t.Parallel()
	in := "Package: demo\nVersion: 1.0-1\nDescription: short\n long line\n .\n more\n\n" +
		"# comment\nPackage: other\nMD5Sum:\n abc 1 x\n def 2 y\n"
	paras, err := ParseParagraphs(strings.NewReader(in))
	require.NoError(t, err)
	require.Len(t, paras, 2)
	assert.Equal(t, "short\n long line\n .\n more", paras[0].Value("description"))
	assert.Equal(t, "Package: demo\nVersion: 1.0-1\nDescription: short\n long line\n .\n more\n", paras[0].String())
	assert.Equal(t, "Package: other\nMD5Sum:\n abc 1 x\n def 2 y\n", paras[1].String())
}

func TestParseParagraphsErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{" continuation first\n", "Package demo\n", "Bad Name: x\n"} {
		_, err := ParseParagraphs(strings.NewReader(in))
		assert.Error(t, err, "%q", in)
	}
}
