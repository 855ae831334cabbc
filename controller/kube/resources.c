/* The well-known resources sealift talks to (declared in kube/client.h). */
#include "kube/client.h"

const struct sl_kube_resource SL_RES_SECRET = {"", "v1", "secrets", "Secret", true};
const struct sl_kube_resource SL_RES_CONFIGMAP = {"", "v1", "configmaps", "ConfigMap", true};
const struct sl_kube_resource SL_RES_SERVICEACCOUNT = {"", "v1", "serviceaccounts",
                                                       "ServiceAccount", true};
const struct sl_kube_resource SL_RES_EVENT = {"", "v1", "events", "Event", true};
const struct sl_kube_resource SL_RES_NAMESPACE = {"", "v1", "namespaces", "Namespace", false};
const struct sl_kube_resource SL_RES_LEASE = {"coordination.k8s.io", "v1", "leases", "Lease", true};
const struct sl_kube_resource SL_RES_VAP = {"admissionregistration.k8s.io", "v1",
                                            "validatingadmissionpolicies",
                                            "ValidatingAdmissionPolicy", false};
const struct sl_kube_resource SL_RES_VAP_BINDING = {"admissionregistration.k8s.io", "v1",
                                                    "validatingadmissionpolicybindings",
                                                    "ValidatingAdmissionPolicyBinding", false};
const struct sl_kube_resource SL_RES_VWC = {"admissionregistration.k8s.io", "v1",
                                            "validatingwebhookconfigurations",
                                            "ValidatingWebhookConfiguration", false};
const struct sl_kube_resource SL_RES_CRD = {
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false};
const struct sl_kube_resource SL_RES_IMAGEDELIVERY = {"sealift.dev", "v1beta1", "imagedeliveries",
                                                      "ImageDelivery", true};
const struct sl_kube_resource SL_RES_SCANPOLICY = {"sealift.dev", "v1beta1", "scanpolicies",
                                                   "ScanPolicy", true};
const struct sl_kube_resource SL_RES_SIGNINGKEY = {"sealift.dev", "v1beta1", "signingkeys",
                                                   "SigningKey", true};
const struct sl_kube_resource SL_RES_DEPLOYPOLICY = {"sealift.dev", "v1beta1", "deploypolicies",
                                                     "DeployPolicy", false};
const struct sl_kube_resource SL_RES_GITSOURCE = {"sealift.dev", "v1beta1", "gitsources",
                                                  "GitSource", true};
