package vsa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// ErrUnsupportedKey is returned for private keys other than ECDSA P-256 and Ed25519.
var ErrUnsupportedKey = errors.New("unsupported signing key: want ECDSA P-256 or Ed25519")

// maxKeyFile bounds the key files read.
const maxKeyFile = 64 << 10

// Key is a private key that signs VSAs. It implements sigstore-go's sign.Keypair, and
// redacts itself in logs.
type Key struct {
	signer crypto.Signer
	alg    protocommon.PublicKeyDetails
	hash   crypto.Hash
	hint   []byte
}

var (
	_ sign.Keypair   = (*Key)(nil)
	_ slog.LogValuer = (*Key)(nil)
)

// ParseKey reads a PEM private key: PKCS#8 ("PRIVATE KEY") holding ECDSA P-256 or Ed25519,
// or SEC 1 ("EC PRIVATE KEY") P-256. Other keys fail with ErrUnsupportedKey; encrypted keys
// are not supported.
func ParseKey(pemBytes []byte) (*Key, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parsing signing key: no PEM block")
	}
	var priv any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("parsing signing key: PEM block %q: %w", block.Type, ErrUnsupportedKey)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing signing key: %w", err)
	}
	return newKey(priv)
}

func newKey(priv any) (*Key, error) {
	k := &Key{}
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA curve %s: %w", p.Curve.Params().Name, ErrUnsupportedKey)
		}
		k.signer, k.alg, k.hash = p, protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256, crypto.SHA256
	case ed25519.PrivateKey:
		k.signer, k.alg = p, protocommon.PublicKeyDetails_PKIX_ED25519
	default:
		return nil, fmt.Errorf("%T: %w", priv, ErrUnsupportedKey)
	}
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	k.hint = []byte(base64.StdEncoding.EncodeToString(sum[:]))
	return k, nil
}

// LoadKey reads a PEM private key file (see ParseKey).
func LoadKey(path string) (*Key, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	return ParseKey(b)
}

func readLimited(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxKeyFile {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", path, st.Size(), maxKeyFile)
	}
	return os.ReadFile(path)
}

// GenerateKey creates an ECDSA P-256 key and writes it to path (PKCS#8 PEM, mode 0600) and
// its public key to path+".pub" (PKIX PEM), unless path exists, in which case the key there is
// loaded. It is how a demo gets a VSA key.
func GenerateKey(path string) (*Key, error) {
	if _, err := os.Stat(path); err == nil {
		return LoadKey(path)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding signing key: %w", err)
	}
	k, err := newKey(priv)
	if err != nil {
		return nil, err
	}
	pub, err := k.GetPublicKeyPem()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path+".pub", []byte(pub), 0o644); err != nil {
		return nil, fmt.Errorf("writing public key: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("writing signing key: %w", err)
	}
	return k, nil
}

// LogValue names the key by its public key hint, never its private part.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("algorithm", k.alg.String()), slog.String("hint", string(k.hint)))
}

// GetHashAlgorithm returns the hash of the signed digest (SHA2-256; none for Ed25519, which
// signs the message itself).
func (k *Key) GetHashAlgorithm() protocommon.HashAlgorithm {
	if k.hash == crypto.SHA256 {
		return protocommon.HashAlgorithm_SHA2_256
	}
	return protocommon.HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED
}

// GetSigningAlgorithm returns the key's algorithm.
func (k *Key) GetSigningAlgorithm() protocommon.PublicKeyDetails { return k.alg }

// GetHint returns the base64 SHA-256 of the public key (PKIX DER).
func (k *Key) GetHint() []byte { return k.hint }

// GetKeyAlgorithm returns "ECDSA" or "ED25519".
func (k *Key) GetKeyAlgorithm() string {
	if k.alg == protocommon.PublicKeyDetails_PKIX_ED25519 {
		return "ED25519"
	}
	return "ECDSA"
}

// GetPublicKey returns the public key.
func (k *Key) GetPublicKey() crypto.PublicKey { return k.signer.Public() }

// GetPublicKeyPem returns the public key as PKIX PEM.
func (k *Key) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.signer.Public())
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	return string(b), nil
}

// SignData signs data and returns the signature and what was signed: the SHA-256 digest of
// data for ECDSA, data itself for Ed25519.
func (k *Key) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	toSign := data
	if k.hash != 0 {
		h := k.hash.New()
		h.Write(data)
		toSign = h.Sum(nil)
	}
	sig, err := k.signer.Sign(rand.Reader, toSign, k.hash)
	if err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	return sig, toSign, nil
}
