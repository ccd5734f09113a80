package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// nodeMembers are what the agent says about its node in every
// AssumeRoleForPodIdentity body: `eksNodeName`, `instanceId` and `zone`,
// the members newer AWS agents send and EKS Auth (and our server's audit
// log) take. Empty ones are left out.
func nodeMembers(cfg EKSAuthConfig) map[string]string {
	m := map[string]string{}
	for name, v := range map[string]string{"eksNodeName": cfg.NodeName, "instanceId": cfg.InstanceID, "zone": cfg.Zone} {
		if v != "" {
			m[name] = v
		}
	}
	return m
}

// withBodyMembers adds members to each request's JSON body. The pinned
// eksauth client predates them, so they are added to the serialized JSON,
// before the request is signed.
func withBodyMembers(add map[string]string) func(*middleware.Stack) error {
	names := slices.Sorted(maps.Keys(add))
	return func(stack *middleware.Stack) error {
		return stack.Serialize.Add(middleware.SerializeMiddlewareFunc("PodIdentityNodeMembers",
			func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
				req, ok := in.Request.(*smithyhttp.Request)
				if !ok || req.GetStream() == nil {
					return next.HandleSerialize(ctx, in)
				}
				body, err := io.ReadAll(req.GetStream())
				if err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				var members map[string]json.RawMessage
				if err := json.Unmarshal(body, &members); err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("adding %v to the request: %w", names, err)
				}
				for _, name := range names {
					members[name], _ = json.Marshal(add[name])
				}
				if body, err = json.Marshal(members); err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				if req, err = req.SetStream(bytes.NewReader(body)); err != nil {
					return middleware.SerializeOutput{}, middleware.Metadata{}, err
				}
				in.Request = req
				return next.HandleSerialize(ctx, in)
			}), middleware.After)
	}
}
