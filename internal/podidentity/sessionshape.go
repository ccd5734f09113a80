package podidentity

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Association tags under ReservedTagPrefix shape the sessions of the
// association's pods (docs/sessions.md has the table). They are ordinary
// EKS tags on the wire; only their meaning is ours, which is what lets any
// EKS client set them.
const (
	ReservedTagPrefix        = "podidentity.io/"
	TagSessionName           = "podidentity.io/session-name"
	TagSessionTagPrefix      = "podidentity.io/session-tag/"
	TagTransitiveSessionTags = "podidentity.io/transitive-session-tags"
)

// STS's limits on AssumeRole (sts.service-2.json: roleSessionNameType,
// tagKeyType, tagValueType, tagListType). They bind the session, not the
// association tags that describe it.
const (
	minSessionNameLen   = 2
	maxSessionNameLen   = 64
	maxSessionTags      = 50
	maxSessionTagKey    = 128
	maxSessionTagValue  = 256
	shortenedHashSuffix = 9 // "-" and 8 hex digits
)

// The variables a session template may use.
var templateVars = []string{"{cluster}", "{namespace}", "{serviceAccount}", "{podName}"}

// sessionShape is what an association's reserved tags ask of its sessions,
// parsed once when the association is looked up.
type sessionShape struct {
	nameTemplate string // "": EKS's eks-<cluster>-<pod>-<uuid>
	tags         []customSessionTag
}

type customSessionTag struct {
	key, valueTemplate string
	transitive         bool
}

var eksSessionTagKeys = []string{TagClusterARN, TagClusterName, TagNamespace, TagPodName, TagPodUID, TagServiceAccount} // sorted

// parseSessionShape reads and checks the reserved tags of an association.
// Every refusal is InvalidParameter naming the tag, so that the create,
// update or TagResource that would store it fails instead of the pods.
func parseSessionShape(tags map[string]string, disableSessionTags bool) (*sessionShape, error) {
	var (
		shape      sessionShape
		transitive []string
		listTag    bool
	)
	keys := make([]string, 0, len(tags))
	for k := range tags {
		// Without case: PodIdentity.io/session-name would otherwise be
		// stored as a plain tag that reads as a reserved one and does
		// nothing, so it is refused like any unknown reserved key.
		if IsReservedTagKey(k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return &shape, nil
	}
	slices.Sort(keys) // errors and tag order the same every time
	for _, k := range keys {
		v := tags[k]
		switch {
		case k == TagSessionName:
			if err := checkTemplate(k, v); err != nil {
				return nil, err
			}
			if strings.TrimSpace(v) == "" {
				return nil, Errorf(CodeInvalidParameter, "tag %s: the session name template is empty", k)
			}
			shape.nameTemplate = v
		case k == TagTransitiveSessionTags:
			listTag = true
			for _, t := range strings.Split(v, ",") {
				if t = strings.TrimSpace(t); t != "" {
					transitive = append(transitive, t)
				}
			}
		case strings.HasPrefix(k, TagSessionTagPrefix):
			key := k[len(TagSessionTagPrefix):]
			if err := checkSessionTag(k, key, v); err != nil {
				return nil, err
			}
			for _, prev := range shape.tags {
				if strings.EqualFold(prev.key, key) {
					return nil, Errorf(CodeInvalidParameter, "tag %s: session tag %q differs from session tag %q only in case; STS compares tag keys without case", k, key, prev.key)
				}
			}
			shape.tags = append(shape.tags, customSessionTag{key: key, valueTemplate: v})
		default:
			return nil, Errorf(CodeInvalidParameter, "tag %s: unknown reserved tag; tags under %s (in any case) are %s, %sKEY and %s, written exactly so",
				clip(k), ReservedTagPrefix, TagSessionName, TagSessionTagPrefix, TagTransitiveSessionTags)
		}
	}
	if disableSessionTags && (len(shape.tags) > 0 || listTag) {
		k := TagTransitiveSessionTags
		if len(shape.tags) > 0 {
			k = TagSessionTagPrefix + shape.tags[0].key
		}
		return nil, Errorf(CodeInvalidParameter, "tag %s: custom session tags need session tags; this association has disableSessionTags true", clip(k))
	}
	if n := len(eksSessionTagKeys) + len(shape.tags); n > maxSessionTags {
		return nil, Errorf(CodeInvalidParameter, "tags %s*: %d custom session tags and the %d EKS session tags make %d; STS allows at most %d",
			TagSessionTagPrefix, len(shape.tags), len(eksSessionTagKeys), n, maxSessionTags)
	}
	for _, t := range transitive {
		i := slices.IndexFunc(shape.tags, func(c customSessionTag) bool { return c.key == t })
		if i < 0 {
			return nil, Errorf(CodeInvalidParameter, "tag %s: %q is not a custom session tag of this association (set %s%s); the EKS session tags are always transitive",
				TagTransitiveSessionTags, clip(t), TagSessionTagPrefix, clip(t))
		}
		shape.tags[i].transitive = true
	}
	return &shape, nil
}

// checkSessionTag checks a custom session tag's key and the literal part
// of its value against STS's limits; the variables expand to Kubernetes
// and cluster names, which are within STS's character set by construction.
func checkSessionTag(tag, key, value string) error {
	switch {
	case key == "":
		return Errorf(CodeInvalidParameter, "tag %s: names no session tag key after %s", tag, TagSessionTagPrefix)
	case utf8.RuneCountInString(key) > maxSessionTagKey:
		return Errorf(CodeInvalidParameter, "tag %s: session tag keys have at most %d characters", clip(tag), maxSessionTagKey)
	case !STSTagText(key):
		return Errorf(CodeInvalidParameter, "tag %s: session tag key %q has characters STS refuses (allowed: letters, digits, spaces and _.:/=+-@)", clip(tag), clip(key))
	case len(key) >= 4 && strings.EqualFold(key[:4], "aws:"):
		return Errorf(CodeInvalidParameter, "tag %s: session tag keys starting with aws: are reserved", clip(tag))
	}
	for _, eks := range eksSessionTagKeys {
		if strings.EqualFold(key, eks) {
			return Errorf(CodeInvalidParameter, "tag %s: %s is one of the six EKS session tags, which EKS sets itself", clip(tag), eks)
		}
	}
	if err := checkTemplate(tag, value); err != nil {
		return err
	}
	literal := stripTemplateVars(value)
	if !STSTagText(literal) {
		return Errorf(CodeInvalidParameter, "tag %s: the session tag value has characters STS refuses (allowed: letters, digits, spaces and _.:/=+-@)", clip(tag))
	}
	if n := utf8.RuneCountInString(literal); n > maxSessionTagValue {
		return Errorf(CodeInvalidParameter, "tag %s: the session tag value has %d characters besides its variables; STS allows %d", clip(tag), n, maxSessionTagValue)
	}
	return nil
}

// checkTemplate refuses braces that are not one of templateVars, so that a
// typo such as {namespce} fails when stored, not in every pod's name.
func checkTemplate(tag, tmpl string) error {
	rest := tmpl
	for {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			return nil
		}
		if rest[open] == '}' {
			return Errorf(CodeInvalidParameter, "tag %s: unmatched } in template %q", clip(tag), clip(tmpl))
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return Errorf(CodeInvalidParameter, "tag %s: unmatched { in template %q", clip(tag), clip(tmpl))
		}
		v := rest[open : open+end+1]
		if !slices.Contains(templateVars, v) {
			return Errorf(CodeInvalidParameter, "tag %s: unknown template variable %s; use %s", clip(tag), clip(v), strings.Join(templateVars, ", "))
		}
		rest = rest[open+end+1:]
	}
}

func stripTemplateVars(tmpl string) string {
	for _, v := range templateVars {
		tmpl = strings.ReplaceAll(tmpl, v, "")
	}
	return tmpl
}

// sessionVars are the values a template's variables expand to.
type sessionVars struct{ cluster, namespace, serviceAccount, podName string }

func (v sessionVars) expand(tmpl string) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	return strings.NewReplacer("{cluster}", v.cluster, "{namespace}", v.namespace,
		"{serviceAccount}", v.serviceAccount, "{podName}", v.podName).Replace(tmpl)
}

// sessionName renders the name template. A result STS would refuse (too
// short, too long, or with characters outside [\w+=,.@-]) is made legal
// deterministically: offending characters become '-', and the name is cut
// to leave room for '-' and 8 hex digits of the SHA-256 of the rendered
// name, so that distinct names stay distinct and a pod gets the same name
// on every request.
func (s *sessionShape) sessionName(v sessionVars) string {
	name := v.expand(s.nameTemplate)
	if validSessionName(name) {
		return name
	}
	clean := []byte{}
	for _, r := range name {
		if r < utf8.RuneSelf && SessionNameChar(byte(r)) {
			clean = append(clean, byte(r))
		} else {
			clean = append(clean, '-')
		}
	}
	clean = clean[:min(len(clean), maxSessionNameLen-shortenedHashSuffix)]
	return string(clean) + hashSuffix(name)
}

// sessionTagValue renders a tag value, shortened as session names are when
// it exceeds STS's 256 characters.
func (s *sessionShape) sessionTagValue(t customSessionTag, v sessionVars) string {
	val := v.expand(t.valueTemplate)
	if utf8.RuneCountInString(val) <= maxSessionTagValue {
		return val
	}
	runes := []rune(val)[:maxSessionTagValue-shortenedHashSuffix]
	return string(runes) + hashSuffix(val)
}

func hashSuffix(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "-" + hex.EncodeToString(sum[:4])
}

func validSessionName(name string) bool {
	if len(name) < minSessionNameLen || len(name) > maxSessionNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !SessionNameChar(name[i]) {
			return false
		}
	}
	return true
}

// SessionNameChar reports whether c is in STS's RoleSessionName set
// [\w+=,.@-]. The one definition: credentials/session uses it too.
func SessionNameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_+=,.@-", c) >= 0
}

// STSTagText reports whether s is valid UTF-8 within STS's tag pattern
// [\p{L}\p{Z}\p{N}_.:/=+\-@]*. The one definition: credentials/session
// uses it too.
func STSTagText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsNumber(r), unicode.Is(unicode.Z, r):
		case strings.ContainsRune("_.:/=+-@", r):
		default:
			return false
		}
	}
	return true
}

// apply shapes req for pod: the stable session name, and the custom tags
// after the EKS ones with the transitive keys STS should mark.
func (s *sessionShape) apply(req *CredentialRequest, v sessionVars) {
	if s.nameTemplate != "" {
		req.SessionName = s.sessionName(v)
		req.StableSessionName = true
	}
	if req.SessionTags == nil || len(s.tags) == 0 {
		return
	}
	transitive := slices.Clone(eksSessionTagKeys)
	for _, t := range s.tags {
		req.SessionTags[t.key] = s.sessionTagValue(t, v)
		if t.transitive {
			transitive = append(transitive, t.key)
		}
	}
	slices.Sort(transitive)
	req.TransitiveTagKeys = transitive
}

// IsReservedTagKey reports whether k is an association tag under
// ReservedTagPrefix, compared without case: a key that differs only in
// case looks like ours to whoever reads it, so it must not slip past the
// rules and the authorization that reserved tags get.
func IsReservedTagKey(k string) bool {
	return len(k) >= len(ReservedTagPrefix) && strings.EqualFold(k[:len(ReservedTagPrefix)], ReservedTagPrefix)
}

// firstReservedKey returns the first reserved key of keys in sorted
// order, so that a refusal names the same tag every time; "" if none.
func firstReservedKey[V any](keys map[string]V) string {
	first := ""
	for k := range keys {
		if IsReservedTagKey(k) && (first == "" || k < first) {
			first = k
		}
	}
	return first
}

func errShapingOff(key string) error {
	return Errorf(CodeInvalidParameter, "tag %s: tags under %s shape the role sessions of the association's pods, and session shaping is off on this server; its administrator can turn it on with associations.sessionShaping: true (docs/sessions.md)",
		clip(key), ReservedTagPrefix)
}

// ShapeCheck authorizes a change of an association's reserved tags; it
// is given the association as stored (TagResource, UntagResource) or as
// it will be stored (CreateAssociation). A session tag overrides the
// role's own tag of the same key and a session name can pose as another
// cluster's, so such a change is a change of what the role's sessions may
// do: the transport asks for what an update and iam:PassRole need, not
// only for eks:TagResource. nil: the caller has authorized everything.
type ShapeCheck func(a *Association) error

// sessionShapeOf is what an association's tags ask of its sessions. With
// session shaping off, reserved tags are refused rather than ignored:
// issuing without tags that were meant to narrow a session (say, one a
// Deny statement keys on) could widen access.
func (s *Service) sessionShapeOf(tags map[string]string, disableSessionTags bool) (*sessionShape, error) {
	if !s.shaping {
		if k := firstReservedKey(tags); k != "" {
			return nil, errShapingOff(k)
		}
		return &sessionShape{}, nil
	}
	return parseSessionShape(tags, disableSessionTags)
}
