import type { AnyServiceDescriptor } from "../common/service-descriptor.js";
import { notifyService } from "../notify/service.js";
import { orderService } from "../order/service.js";
import { voucherService } from "../voucher/service.js";

/** Every service of the platform: the cluster roles, `migrate`, the embedded mode and the streams come from here. */
export const services: AnyServiceDescriptor[] = [voucherService, orderService, notifyService];
