// Command minio-admin gives the lab's collection a least-privilege MinIO identity: as MinIO's root
// user it creates the buckets, a canned policy that allows only those buckets, and a user with that
// policy attached. Every step is idempotent (`make lab-up` runs it on each start).
//
// MinIO's admin API encrypts the secret-bearing payloads with the root secret (madmin-go's
// EncryptData), so plain HTTP clients cannot add users; this program uses madmin-go at the version
// the lab's pinned minio requires (its go.mod), and minio-go for the buckets.
//
// Credentials only travel in the environment, never on the command line:
//
//	MINIO_ROOT_USER, MINIO_ROOT_PASSWORD   root (admin) credentials
//	LAB_S3_USER, LAB_S3_SECRET             the user to create or update
//
//	minio-admin -endpoint 127.0.0.1:19000 -policy llm-serving-models -bucket models [-bucket ...]
//
// Prints one line per step; on failure one line naming the step and exits 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/minio/madmin-go/v3"
	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

type buckets []string

func (b *buckets) String() string     { return strings.Join(*b, ",") }
func (b *buckets) Set(v string) error { *b = append(*b, v); return nil }

// bucketPolicy allows what the collection does with its buckets (list, read, write, delete,
// multipart uploads and their leftovers, locate) and nothing else: no ListAllMyBuckets, no
// CreateBucket, no admin:*. The document has the form of MinIO's canned policies
// (github.com/minio/pkg/v3 policy/constants.go, "readwrite": Version, Allow statements), with the
// actions and resources narrowed to the buckets.
func bucketPolicy(names []string) ([]byte, error) {
	var bucketARNs, objectARNs []string
	for _, n := range names {
		bucketARNs = append(bucketARNs, "arn:aws:s3:::"+n)
		objectARNs = append(objectARNs, "arn:aws:s3:::"+n+"/*")
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Effect": "Allow",
				"Action":   []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"},
				"Resource": bucketARNs},
			{"Effect": "Allow",
				"Action": []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject",
					"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
				"Resource": objectARNs},
		},
	}
	return json.Marshal(doc)
}

func fail(step string, err error) {
	fmt.Fprintf(os.Stderr, "minio-admin: %s failed: %v\n", step, err)
	os.Exit(1)
}

func env(name string) string {
	v := os.Getenv(name)
	if v == "" {
		fail("reading the environment", fmt.Errorf("%s is not set", name))
	}
	return v
}

func main() {
	endpoint := flag.String("endpoint", "", "MinIO host:port (plain HTTP)")
	policyName := flag.String("policy", "", "name of the canned policy to write")
	var names buckets
	flag.Var(&names, "bucket", "a bucket the user may use (repeat); created when missing")
	flag.Parse()
	if *endpoint == "" || *policyName == "" || len(names) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	rootUser, rootSecret := env("MINIO_ROOT_USER"), env("MINIO_ROOT_PASSWORD")
	user, secret := env("LAB_S3_USER"), env("LAB_S3_SECRET")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	s3, err := miniogo.New(*endpoint, &miniogo.Options{
		Creds: credentials.NewStaticV4(rootUser, rootSecret, ""), Secure: false, Region: os.Getenv("LAB_S3_REGION")})
	if err != nil {
		fail("connecting to S3", err)
	}
	for _, b := range names {
		exists, err := s3.BucketExists(ctx, b)
		if err != nil {
			fail("checking bucket "+b, err)
		}
		if !exists {
			if err := s3.MakeBucket(ctx, b, miniogo.MakeBucketOptions{Region: os.Getenv("LAB_S3_REGION")}); err != nil {
				fail("creating bucket "+b, err)
			}
			fmt.Printf("bucket %s created\n", b)
		} else {
			fmt.Printf("bucket %s present\n", b)
		}
	}

	adm, err := madmin.New(*endpoint, rootUser, rootSecret, false)
	if err != nil {
		fail("connecting to the admin API", err)
	}
	doc, err := bucketPolicy(names)
	if err != nil {
		fail("writing the policy", err)
	}
	if err := adm.AddCannedPolicy(ctx, *policyName, doc); err != nil {
		fail("adding policy "+*policyName, err)
	}
	fmt.Printf("policy %s set (buckets %s)\n", *policyName, names.String())
	// add-user creates the user or resets its secret key and status (cmd/admin-handlers-users.go AddUser).
	if err := adm.AddUser(ctx, user, secret); err != nil {
		fail("adding the user", err)
	}
	_, err = adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{*policyName}, User: user})
	var resp madmin.ErrorResponse
	// A second run attaches nothing new: MinIO answers XMinioAdminPolicyChangeAlreadyApplied
	// (cmd/api-errors.go, errNoPolicyToAttachOrDetach).
	if err != nil && !(errors.As(err, &resp) && resp.Code == "XMinioAdminPolicyChangeAlreadyApplied") {
		fail("attaching policy "+*policyName, err)
	}
	info, err := adm.GetUserInfo(ctx, user)
	if err != nil {
		fail("reading the user back", err)
	}
	if info.PolicyName != *policyName || info.Status != madmin.AccountEnabled {
		fail("checking the user", fmt.Errorf("policy %q, status %q; want %q, enabled", info.PolicyName, info.Status, *policyName))
	}
	fmt.Printf("user set, policy %s only\n", *policyName)
}
