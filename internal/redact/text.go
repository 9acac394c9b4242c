package redact

import "strings"

// Text returns s with every URL in it (scheme://…, up to a space, a quote
// or a bracket) passed through URL: for messages that quote a URL, such as
// the errors of net/http, client-go and go-git.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	done := 0 // s[:done] is written
	for {
		sep := strings.Index(s[done:], "://")
		if sep < 0 {
			break
		}
		sep += done
		start := sep
		for start > done && schemeChar(s[start-1]) {
			start--
		}
		for start < sep && !isLetter(s[start]) {
			start++
		}
		if start == sep { // no scheme before it
			b.WriteString(s[done : sep+3])
			done = sep + 3
			continue
		}
		end := sep + 3
		for end < len(s) && !endsURL(s[end]) {
			end++
		}
		end = trimPunctuation(s[:end], start)
		b.WriteString(s[done:start])
		b.WriteString(URL(s[start:end]))
		done = end
	}
	b.WriteString(s[done:])
	return b.String()
}

// trimPunctuation returns where the URL starting at start and running to
// the end of s ends once the punctuation of the message after it is left
// out ("push to URL: …"): unless that may be the end of a query value or a
// fragment, which are masked whole, or they are masked already.
func trimPunctuation(s string, start int) int {
	end := len(s)
	for end > start && strings.IndexByte(".,:;!", s[end-1]) >= 0 {
		end--
	}
	if end == len(s) || !strings.ContainsAny(s[start:end], "?#") || strings.HasSuffix(s[start:end], Mask) {
		return end
	}
	return len(s)
}

// endsURL reports whether c cannot be part of a URL as messages quote it.
func endsURL(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '"', '\'', '`', '<', '>', '\\':
		return true
	}
	return false
}

// Error returns err with every URL in its message redacted by Text, and
// every one of urls, which it may quote as given (an scp-like address has
// no scheme for Text to find), by URL; err itself when that changes
// nothing. It unwraps to err, so that errors.Is and errors.As still see
// what happened.
func Error(err error, urls ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	r := msg
	for _, u := range urls {
		if u != "" {
			r = strings.ReplaceAll(r, u, URL(u))
		}
	}
	if r = Text(r); r != msg {
		return &redacted{msg: r, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
