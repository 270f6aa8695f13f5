package plugin

import (
	"context"
	"errors"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/docker-build2/docker-build2/plugin/buildflags"
)

// awsCredentials are the AWS SDK's default credentials, as BuildKit's s3
// cache and buildx read them, for a builder that may not run with this
// environment.
func awsCredentials() (buildflags.AWSCredentials, error) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), 30*time.Second, errors.New("reading AWS credentials took over 30s"))
	defer cancel()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return buildflags.AWSCredentials{}, err
	}
	if cfg.Credentials == nil {
		return buildflags.AWSCredentials{}, errors.New("no AWS credentials")
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return buildflags.AWSCredentials{}, err
	}
	return buildflags.AWSCredentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}, nil
}
