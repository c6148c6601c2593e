/** The optional CloudFront + WAF in front of the API (`-c edgeProtection=true`): off by default, complete when on. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { defaultStack, synthesize } from './support/stack.js';

test('off by default: no distribution, no web ACL', () => {
  const { template } = defaultStack();
  template.resourceCountIs('AWS::CloudFront::Distribution', 0);
  template.resourceCountIs('AWS::WAFv2::WebACL', 0);
});

test('edgeProtection=true: a CloudFront distribution in front of the API with a WAF web ACL (rate per IP, managed rules)', () => {
  const { template } = synthesize({ edgeProtection: 'true' });
  template.resourceCountIs('AWS::CloudFront::Distribution', 1);
  template.hasResourceProperties('AWS::WAFv2::WebACL', {
    Scope: 'CLOUDFRONT',
    DefaultAction: { Allow: {} },
    Rules: Match.arrayWith([
      Match.objectLike({
        Name: 'rate-per-ip',
        Action: { Block: {} },
        Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } },
      }),
      Match.objectLike({
        Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesCommonRuleSet' } },
      }),
      Match.objectLike({
        Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesKnownBadInputsRuleSet' } },
      }),
    ]),
  });
  const acl = Object.keys(template.findResources('AWS::WAFv2::WebACL'))[0]!;
  template.hasResourceProperties('AWS::CloudFront::Distribution', {
    DistributionConfig: Match.objectLike({
      WebACLId: { 'Fn::GetAtt': [acl, 'Arn'] },
      DefaultCacheBehavior: Match.objectLike({
        AllowedMethods: Match.arrayWith(['GET', 'PUT', 'POST', 'DELETE']),
        // Managed CachingDisabled and AllViewerExceptHostHeader: nothing cached, Authorization forwarded.
        CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad',
        OriginRequestPolicyId: 'b689b0a8-53d0-40ab-baf2-68738e2966ac',
        ViewerProtocolPolicy: 'https-only',
      }),
    }),
  });
  const [distribution] = Object.values(template.findResources('AWS::CloudFront::Distribution'));
  assert.match(
    JSON.stringify(distribution?.Properties.DistributionConfig.Origins),
    /\.execute-api\./,
    'the origin is the HTTP API',
  );
  template.hasOutput('DeviceApiEdgeUrl', {});
});

test('edgeWebAclArn: an existing ACL is used and none is created', () => {
  const arn = 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/fleet/abc';
  const { template } = synthesize({ edgeProtection: 'true', edgeWebAclArn: arn });
  template.resourceCountIs('AWS::WAFv2::WebACL', 0);
  template.hasResourceProperties('AWS::CloudFront::Distribution', {
    DistributionConfig: Match.objectLike({ WebACLId: arn }),
  });
});
