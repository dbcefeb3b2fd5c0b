package aptrepo

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Field is one field of a deb822 paragraph. Value holds the text after "Name:" with the
// leading space removed; continuation lines are kept verbatim (each starting with a space)
// after a newline, so a paragraph can be written back byte-for-byte.
type Field struct {
	Name  string
	Value string
}

// Paragraph is an ordered deb822 stanza (a control file, one entry of Packages, a Release).
type Paragraph []Field

// Get returns the value of the field named name (case-insensitive, as Debian defines it).
func (p Paragraph) Get(name string) (string, bool) {
	for _, f := range p {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// Value returns the field's value or "".
func (p Paragraph) Value(name string) string {
	v, _ := p.Get(name)
	return v
}

// Set replaces the value of name, or appends the field when it is absent.
func (p Paragraph) Set(name, value string) Paragraph {
	for i, f := range p {
		if strings.EqualFold(f.Name, name) {
			p[i].Value = value
			return p
		}
	}
	return append(p, Field{Name: name, Value: value})
}

// Without returns p without the named fields.
func (p Paragraph) Without(names ...string) Paragraph {
	out := make(Paragraph, 0, len(p))
next:
	for _, f := range p {
		for _, n := range names {
			if strings.EqualFold(f.Name, n) {
				continue next
			}
		}
		out = append(out, f)
	}
	return out
}

// WriteTo writes the paragraph in deb822 form, ending with a newline (no blank line).
func (p Paragraph) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, f := range p {
		b.WriteString(f.Name)
		b.WriteString(":")
		if f.Value != "" && !strings.HasPrefix(f.Value, "\n") {
			b.WriteString(" ")
		}
		b.WriteString(f.Value)
		b.WriteString("\n")
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func (p Paragraph) String() string {
	var b strings.Builder
	_, _ = p.WriteTo(&b)
	return b.String()
}

// ParseParagraphs reads deb822 paragraphs separated by blank lines. It rejects lines that
// are neither "Name: value" nor continuation lines, and OpenPGP armour (callers strip it).
func ParseParagraphs(r io.Reader) ([]Paragraph, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var (
		out  []Paragraph
		cur  Paragraph
		line int
	)
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	for sc.Scan() {
		line++
		s := sc.Text()
		switch {
		case strings.TrimSpace(s) == "":
			flush()
		case strings.HasPrefix(s, "#"):
			// comment lines are allowed in control files
		case s[0] == ' ' || s[0] == '\t':
			if len(cur) == 0 {
				return nil, fmt.Errorf("line %d: continuation line without a field", line)
			}
			cur[len(cur)-1].Value += "\n" + s
		default:
			name, value, ok := strings.Cut(s, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("line %d: %q is not a field", line, s)
			}
			cur = append(cur, Field{Name: name, Value: strings.TrimLeft(value, " \t")})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read deb822 paragraphs: %w", err)
	}
	flush()
	return out, nil
}
