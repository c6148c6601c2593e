/**
 * Optional edge protection for the device API (`-c edgeProtection=true`, off by default; docs/architecture.md
 * "What protects the device API"): HTTP APIs cannot have a WAF web ACL, so a CloudFront distribution with one sits
 * in front. Rules: AWS managed common rule set and known bad inputs, and a rate-based rule per client IP. Nothing is
 * cached (every device call reaches the API); every viewer header but Host is forwarded, so devices' Authorization
 * arrives. Operator calls keep using the API URL (their SigV4 signature names the API's host).
 *
 * A CLOUDFRONT-scoped web ACL must live in us-east-1: the stack creates one there, or, deployed elsewhere, uses the
 * ACL named by `-c edgeWebAclArn=...` (created in us-east-1 separately).
 */
import { CfnOutput, Stack, Token, Validations } from 'aws-cdk-lib';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  PriceClass,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface EdgeProtectionProps {
  httpApi: HttpApi;
  /** Requests per 5 minutes from one client IP before WAF blocks it (a site NAT may front many devices). */
  ratePerIpPer5Min: number;
  /** An existing CLOUDFRONT-scoped web ACL (us-east-1) to use instead of creating one. */
  webAclArn?: string;
}

export class EdgeProtection extends Construct {
  readonly distribution: Distribution;
  readonly webAclArn: string;

  constructor(scope: Construct, id: string, props: EdgeProtectionProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    if (!props.webAclArn && !Token.isUnresolved(region) && region !== 'us-east-1') {
      throw new Error(
        `edgeProtection: a CloudFront web ACL must be created in us-east-1; this stack is in ${region}. Pass -c edgeWebAclArn=<arn of an ACL created in us-east-1>.`,
      );
    }
    this.webAclArn = props.webAclArn ?? this.createWebAcl(props.ratePerIpPer5Min).attrArn;
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'Fleetmedic device API behind WAF',
      defaultBehavior: {
        origin: new HttpOrigin(`${props.httpApi.apiId}.execute-api.${Stack.of(this).region}.amazonaws.com`, {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
        }),
        allowedMethods: AllowedMethods.ALLOW_ALL,
        cachePolicy: CachePolicy.CACHING_DISABLED,
        originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      },
      priceClass: PriceClass.PRICE_CLASS_100,
      webAclId: this.webAclArn,
    });
    const v = Validations.of(this.distribution);
    v.acknowledge({
      id: 'AwsSolutions-CFR4',
      reason:
        "Default *.cloudfront.net certificate: a custom domain with an ACM certificate (TLSv1.2_2021) is the operator's choice; agents connect with TLS 1.2+ (Node.js defaults).",
    });
    v.acknowledge({
      id: 'AwsSolutions-CFR3',
      reason:
        'The API stage already writes access logs for every request, and WAF keeps sampled requests; a second log bucket adds cost, not information.',
    });
    v.acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        'Devices are deployed in many countries; WAF rules and the per-IP rate limit protect the API instead of geo restriction.',
    });
    new CfnOutput(Stack.of(this), 'DeviceApiEdgeUrl', {
      value: `https://${this.distribution.distributionDomainName}`,
      description: 'Device API behind CloudFront + WAF (point agents here)',
    });
  }

  private createWebAcl(rateLimit: number): CfnWebACL {
    const visibility = (name: string) => ({
      cloudWatchMetricsEnabled: true,
      metricName: name,
      sampledRequestsEnabled: true,
    });
    const managed = (name: string, priority: number) => ({
      name,
      priority,
      overrideAction: { none: {} },
      statement: { managedRuleGroupStatement: { vendorName: 'AWS', name } },
      visibilityConfig: visibility(name),
    });
    return new CfnWebACL(this, 'WebAcl', {
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('fleetmedic-edge'),
      rules: [
        {
          name: 'rate-per-ip',
          priority: 0,
          action: { block: {} },
          statement: { rateBasedStatement: { limit: rateLimit, aggregateKeyType: 'IP' } },
          visibilityConfig: visibility('rate-per-ip'),
        },
        managed('AWSManagedRulesCommonRuleSet', 1),
        managed('AWSManagedRulesKnownBadInputsRuleSet', 2),
      ],
    });
  }
}
