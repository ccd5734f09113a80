package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// withNodeName adds the node's name to each AssumeRoleForPodIdentity body
// as `eksNodeName`, the member newer AWS agents send and EKS Auth (and our
// server's audit log) take. The pinned eksauth client predates the member,
// so it is added to the serialized JSON, before the request is signed.
func withNodeName(node string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Serialize.Add(middleware.SerializeMiddlewareFunc("PodIdentityNodeName",
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
					return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("adding eksNodeName: %w", err)
				}
				members["eksNodeName"], _ = json.Marshal(node)
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
