import { Controller, Get, Injectable, Param, SetMetadata } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import {
  InvalidUserIdError,
  LoadStatusConfigError,
  LoadStatusModuleMissingError,
  WithLoadLock,
  WithUserLoadLock,
} from '../../src';
import { startApp, type TestApp } from '../support/apps';
import { redisUrl, sleep, uniquePrefix } from '../support/env';

const ROLE = 'test:role';

@Injectable()
class UserLoader {
  runs: string[] = [];

  @WithUserLoadLock()
  async loadUser(userId: string): Promise<string | undefined> {
    this.runs.push(userId);
    await sleep(30);
    return `data of ${userId}`;
  }

  @WithUserLoadLock({ userId: 1 })
  async loadByIndex(_tenant: string, userId: string): Promise<string | undefined> {
    this.runs.push(userId);
    return Promise.resolve(userId);
  }

  @WithUserLoadLock({ userId: (request: { user: { id: number } }) => String(request.user.id) })
  async loadByFunction(request: { user: { id: number } }): Promise<number | undefined> {
    this.runs.push(String(request.user.id));
    return Promise.resolve(request.user.id);
  }

  @SetMetadata(ROLE, 'applied-before')
  @WithUserLoadLock()
  async metadataBefore(userId: string): Promise<string | undefined> {
    return Promise.resolve(userId);
  }

  @WithUserLoadLock()
  @SetMetadata(ROLE, 'applied-after')
  async metadataAfter(userId: string): Promise<string | undefined> {
    return Promise.resolve(userId);
  }
}

/** Two kinds of data per user, as an app has them, with default options. */
@Injectable()
class UserProfile {
  runs: string[] = [];

  @WithUserLoadLock()
  async loadServers(userId: string): Promise<string | undefined> {
    this.runs.push(`servers:${userId}`);
    return Promise.resolve(`servers of ${userId}`);
  }

  @WithUserLoadLock()
  async loadSettings(userId: string): Promise<string | undefined> {
    this.runs.push(`settings:${userId}`);
    return Promise.resolve(`settings of ${userId}`);
  }

  @WithUserLoadLock({ name: 'avatar' })
  async warmAvatar(userId: string): Promise<string | undefined> {
    this.runs.push(`avatar:${userId}`);
    return Promise.resolve(`avatar of ${userId}`);
  }

  @WithUserLoadLock({ name: 'avatar' })
  async readAvatar(userId: string): Promise<void> {
    this.runs.push(`avatar (read):${userId}`);
    return Promise.resolve();
  }

  @WithLoadLock({ name: 'tenants', key: (job: { tenant: string }) => job.tenant })
  async loadTenant(job: { tenant: string }): Promise<string | undefined> {
    this.runs.push(`tenant:${job.tenant}`);
    return Promise.resolve(`tenant ${job.tenant}`);
  }
}

@Controller('users')
class UsersController {
  loads = 0;

  @Get(':id')
  @WithUserLoadLock()
  async load(@Param('id') id: string): Promise<string | undefined> {
    this.loads++;
    return Promise.resolve(id);
  }
}

describe('@WithUserLoadLock()', () => {
  describe('without a module', () => {
    it('rejects with LoadStatusModuleMissingError and never runs the method', async () => {
      const loader = new UserLoader();
      await expect(loader.loadUser('u')).rejects.toThrow(LoadStatusModuleMissingError);
      await expect(loader.loadUser('u')).rejects.toThrow(
        '@WithUserLoadLock() on UserLoader.loadUser found no LoadStatusModule',
      );
      expect(loader.runs).toEqual([]);
    });
  });

  describe.each([
    ['memory', () => ({})],
    ['redis', () => ({ redis: redisUrl(), keyPrefix: uniquePrefix('deco') })],
  ])('with the module on the %s store', (_name, options) => {
    let t: TestApp;
    beforeEach(async () => {
      t = await startApp(options(), [UserLoader, UsersController, UserProfile]);
    });
    afterEach(() => t.close());

    it('runs once for 50 concurrent calls on a Nest-made provider; the runner gets the value', async () => {
      const loader = t.app.get(UserLoader);
      const results = await Promise.all(Array.from({ length: 50 }, () => loader.loadUser('alice')));
      expect(loader.runs).toEqual(['alice']);
      expect(new Set(results)).toEqual(new Set(['data of alice']));
      // Already loaded: the body does not run and the call resolves to undefined.
      expect(await loader.loadUser('alice')).toBeUndefined();
      expect(loader.runs).toEqual(['alice']);
    });

    it('works on an instance built by hand', async () => {
      const loader = new UserLoader();
      await Promise.all(Array.from({ length: 20 }, () => loader.loadUser('bob')));
      expect(loader.runs).toEqual(['bob']);
      expect(await t.status.isLoaded('bob', { name: 'UserLoader.loadUser' })).toBe(true);
    });

    it('works on a controller, keeping its route metadata', async () => {
      const controller = t.app.get(UsersController);
      expect(Reflect.getMetadata(PATH_METADATA, UsersController.prototype.load)).toBe(':id');
      await Promise.all([controller.load('carol'), controller.load('carol')]);
      expect(controller.loads).toBe(1);
    });

    it('takes the user id from the argument index or the function in options', async () => {
      const loader = t.app.get(UserLoader);
      await loader.loadByIndex('tenant-1', 'dave');
      await loader.loadByFunction({ user: { id: 7 } });
      expect(loader.runs).toEqual(['dave', '7']);
      expect(await t.status.isLoaded('dave', { name: 'UserLoader.loadByIndex' })).toBe(true);
      expect(await t.status.isLoaded('7', { name: 'UserLoader.loadByFunction' })).toBe(true);
      expect(await t.status.isLoaded('tenant-1', { name: 'UserLoader.loadByIndex' })).toBe(false);
    });

    it('gives two undecorated-by-name methods of one class their own loads: neither answers for the other', async () => {
      const profile = t.app.get(UserProfile);
      await profile.loadServers('u1');
      // The seed's bug: this resolved to undefined without running, the servers' flag answering.
      await expect(profile.loadSettings('u1')).resolves.toBe('settings of u1');
      expect(profile.runs).toEqual(['servers:u1', 'settings:u1']);
      await expect(profile.loadServers('u1')).resolves.toBeUndefined();
      await expect(profile.loadSettings('u1')).resolves.toBeUndefined();
      expect(profile.runs).toEqual(['servers:u1', 'settings:u1']);
      expect(await t.status.isLoaded('u1', { name: 'UserProfile.loadServers' })).toBe(true);
      expect(await t.status.isLoaded('u1')).toBe(false); // the unnamed load is another load
    });

    it('shares one load between methods that give the same name, and with ensureLoaded', async () => {
      const profile = t.app.get(UserProfile);
      await expect(profile.warmAvatar('u2')).resolves.toBe('avatar of u2');
      await expect(profile.readAvatar('u2')).resolves.toBeUndefined();
      await expect(
        t.lock.ensureLoaded('u2', () => Promise.resolve('again'), { name: 'avatar' }),
      ).resolves.toEqual({ status: 'already-loaded' });
      expect(profile.runs).toEqual(['avatar:u2']);
    });

    it('clears one load of a key and leaves its other loads loaded', async () => {
      const profile = t.app.get(UserProfile);
      await Promise.all([profile.loadServers('u3'), profile.loadSettings('u3')]);
      await t.status.clearLoaded('u3', { name: 'UserProfile.loadServers' });
      await expect(profile.loadSettings('u3')).resolves.toBeUndefined();
      await expect(profile.loadServers('u3')).resolves.toBe('servers of u3');
      expect(profile.runs.filter((r) => r === 'servers:u3')).toHaveLength(2);
    });

    it('refuses a second class of the same name whose default load name would share the first', async () => {
      // Two classes named Dup (say, one per feature module): <Class>.<method> alone is ambiguous.
      const makeDup = () => {
        class Dup {
          runs = 0;
          @WithUserLoadLock()
          async load(_userId: string): Promise<void> {
            this.runs++;
            return Promise.resolve();
          }
        }
        return new Dup();
      };
      const [first, second] = [makeDup(), makeDup()];
      await first.load('u-dup');
      await expect(second.load('u-dup')).rejects.toThrow(LoadStatusConfigError);
      await expect(second.load('u-dup')).rejects.toThrow(
        /two different classes decorate a method whose default load name is "Dup.load".*give each its own name/,
      );
      expect([first.runs, second.runs]).toEqual([1, 0]);
      await first.load('u-dup-2'); // the first class keeps its load
      expect(first.runs).toBe(2);
    });

    it('@WithLoadLock({ key }) keys any resource the same way', async () => {
      const profile = t.app.get(UserProfile);
      await expect(profile.loadTenant({ tenant: 'acme' })).resolves.toBe('tenant acme');
      await expect(profile.loadTenant({ tenant: 'acme' })).resolves.toBeUndefined();
      expect(profile.runs).toEqual(['tenant:acme']);
      expect(await t.status.isLoaded('acme', { name: 'tenants' })).toBe(true);
    });

    it('rejects an invalid user id with InvalidUserIdError and does not run the method', async () => {
      const loader = t.app.get(UserLoader);
      for (const bad of ['', undefined, { id: 1 }, 'x'.repeat(1025)]) {
        await expect(loader.loadUser(bad as string)).rejects.toThrow(InvalidUserIdError);
      }
      expect(loader.runs).toEqual([]);
    });
  });

  it('keeps the method name and metadata in either decorator order', () => {
    const proto = UserLoader.prototype;
    expect(proto.loadUser.name).toBe('loadUser');
    expect(proto.metadataBefore.name).toBe('metadataBefore');
    expect(Reflect.getMetadata(ROLE, proto.metadataBefore)).toBe('applied-before');
    expect(Reflect.getMetadata(ROLE, proto.metadataAfter)).toBe('applied-after');
    expect(Reflect.getMetadata('design:paramtypes', proto, 'loadByIndex')).toEqual([
      String,
      String,
    ]);
  });

  it.each<[string, unknown]>([
    ['a negative argument index', { userId: -1 }],
    ['a string userId', { userId: 'id' }],
    ['a zero lockTtlMs', { lockTtlMs: 0 }],
    ['an unknown onWaitTimeout', { onWaitTimeout: 'never' }],
    ['an unknown option', { ttl: 5 }],
    ['an empty name', { name: '' }],
    ['a blank name', { name: '  ' }],
    ['a name that is not a string', { name: 7 }],
  ])('rejects %s at decoration time with LoadStatusConfigError', (_label, options) => {
    expect(() => WithUserLoadLock(options as never)).toThrow(LoadStatusConfigError);
  });

  it('rejects being put on something that is not a method', () => {
    const decorate = WithUserLoadLock();
    expect(() => decorate({}, 'field', { value: 5 } as never)).toThrow(/is not a method/);
  });

  describe('with two registrations of different key prefixes in one process', () => {
    @Injectable()
    class TwoKinds {
      servers = 0;
      settings = 0;
      guesses = 0;

      @WithUserLoadLock({ keyPrefix: 'servers' })
      async loadServers(_userId: string): Promise<void> {
        this.servers++;
        return Promise.resolve();
      }

      @WithUserLoadLock({ keyPrefix: 'settings' })
      async loadSettings(_userId: string): Promise<void> {
        this.settings++;
        return Promise.resolve();
      }

      @WithUserLoadLock()
      async guess(_userId: string): Promise<void> {
        this.guesses++;
        return Promise.resolve();
      }
    }
    let servers: TestApp;
    let settings: TestApp;
    beforeEach(async () => {
      servers = await startApp({ keyPrefix: 'servers' });
      settings = await startApp({ keyPrefix: 'settings' });
    });
    afterEach(() => Promise.all([servers.close(), settings.close()]));

    it('keeps each kind of data under its own flags', async () => {
      const loader = new TwoKinds();
      await loader.loadServers('u1');
      await loader.loadSettings('u1');
      expect([loader.servers, loader.settings]).toEqual([1, 1]);
      expect(await servers.status.isLoaded('u1', { name: 'TwoKinds.loadServers' })).toBe(true);
      expect(await settings.status.isLoaded('u1', { name: 'TwoKinds.loadSettings' })).toBe(true);
      expect(await settings.status.isLoaded('u1', { name: 'TwoKinds.loadServers' })).toBe(false);
    });

    it('refuses to guess without keyPrefix, and never runs the method', async () => {
      const loader = new TwoKinds();
      await expect(loader.guess('u1')).rejects.toThrow(LoadStatusConfigError);
      await expect(loader.guess('u1')).rejects.toThrow(
        /cannot choose between .*"servers", "settings"/,
      );
      expect(loader.guesses).toBe(0);
    });

    it('reports a keyPrefix that no live registration has', async () => {
      await settings.close();
      await expect(new TwoKinds().loadSettings('u1')).rejects.toThrow(
        /found no LoadStatusModule with keyPrefix "settings"/,
      );
    });
  });
});
