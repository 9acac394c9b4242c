// Package redact makes what ssm shows safe to show. It masks the secrets a
// URL can carry before it is shown: in a log line, an error, a metric or a
// commit. URL is the one function that does it; Text and Error apply it to
// every URL in a message. Escape keeps a message that quotes a remote's
// names on one line, as text. It imports no package of ssm, so that every
// one of them can use it.
package redact

import (
	"net/url"
	"strings"
)

// Mask stands for what was removed.
const Mask = "xxxxx"

// URL returns raw for display with its secrets masked: the user
// information, and every query value and the fragment (query keys stay, to
// be recognisable). An ssh URL keeps its user name, which names an account
// (the key is the secret), as do scp-like addresses (git@host:path) and
// other addresses without a scheme, whose password alone is masked.
//
// What url.Parse refuses is masked by its shape, not shown: everything up
// to the last @ before the query is taken for user information.
func URL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !validScheme(scheme) {
		return noScheme(raw)
	}
	if u, err := url.Parse(raw); err == nil && u.Opaque == "" {
		return parsed(u)
	}
	return scheme + "://" + byShape(rest, false)
}

func parsed(u *url.URL) string {
	if u.User != nil {
		_, hasPassword := u.User.Password()
		switch {
		case !sshScheme(u.Scheme):
			u.User = url.User(Mask)
		case hasPassword:
			u.User = url.UserPassword(u.User.Username(), Mask)
		}
	}
	if u.RawQuery != "" {
		u.RawQuery = maskQuery(u.RawQuery)
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = Mask, ""
	}
	return u.String()
}

// noScheme masks an address without a scheme: a local path, a host:port,
// or user[:password]@host:path.
func noScheme(raw string) string {
	return byShape(raw, true)
}

// byShape masks s (what follows a scheme's "://", or a whole address
// without one) without parsing it: the user information before the last @
// ahead of the query (keepUser: its password only, unless it holds a /,
// which makes it a path), the query values and the fragment.
func byShape(s string, keepUser bool) string {
	end := strings.IndexAny(s, "?#")
	if end < 0 {
		end = len(s)
	}
	head, tail := s[:end], s[end:]
	if at := strings.LastIndex(head, "@"); at >= 0 {
		user, host := head[:at], head[at+1:]
		switch name, _, hasPassword := strings.Cut(user, ":"); {
		case !keepUser:
			head = Mask + "@" + host
		case strings.Contains(user, "/"): // a path with an @ in it
		case hasPassword:
			head = name + ":" + Mask + "@" + host
		}
	}
	query, fragment, hasFragment := strings.Cut(tail, "#")
	if query != "" {
		query = "?" + maskQuery(query[1:])
	}
	if hasFragment {
		fragment = "#" + Mask
	}
	return head + query + fragment
}

// maskQuery keeps the keys of a raw query and masks its values; a part
// without "=" may be a bare token, and is masked whole.
func maskQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if key, _, ok := strings.Cut(p, "="); ok {
			parts[i] = key + "=" + Mask
		} else if p != "" {
			parts[i] = Mask
		}
	}
	return strings.Join(parts, "&")
}

func sshScheme(s string) bool {
	switch strings.ToLower(s) {
	case "ssh", "git+ssh", "ssh+git":
		return true
	}
	return false
}

// validScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, +, - and .).
func validScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !schemeChar(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func schemeChar(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}
